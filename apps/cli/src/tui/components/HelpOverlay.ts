import { Box, Text } from "ink";
import type React from "react";
import { html } from "../html.ts";
import { KEY_HELP } from "../keys.ts";

/** `?`: the key bindings, from the same table the key map documents. */
export function HelpOverlay(): React.ReactElement {
  const width = Math.max(...KEY_HELP.flatMap((g) => g.keys.map(([k]) => k.length))) + 2;
  return html`
    <${Box} flexDirection="column" borderStyle="round" borderColor="cyan" paddingX=${1} alignSelf="flex-start">
      <${Text} bold color="cyan">Keys</${Text}>
      ${KEY_HELP.map(
        (group) => html`
          <${Box} key=${group.title} flexDirection="column" marginTop=${1}>
            <${Text} bold>${group.title}</${Text}>
            ${group.keys.map(
              ([k, what]) =>
                html`<${Text} key=${k}><${Text} color="yellow">${k.padEnd(width)}</${Text}>${what}</${Text}>`,
            )}
          </${Box}>
        `,
      )}
      <${Box} marginTop=${1}>
        <${Text} dimColor>any key closes this help</${Text}>
      </${Box}>
    </${Box}>
  `;
}
