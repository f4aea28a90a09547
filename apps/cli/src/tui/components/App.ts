import { Box, useInput, useWindowSize } from "ink";
import type React from "react";
import { useEffect, useSyncExternalStore } from "react";
import type { TuiController } from "../controller.ts";
import { html } from "../html.ts";
import { Footer } from "./Footer.ts";
import { Header } from "./Header.ts";
import { HelpOverlay } from "./HelpOverlay.ts";
import { LoopDetail } from "./LoopDetail.ts";
import { LoopTable } from "./LoopTable.ts";
import { AuditView, CostView } from "./RecordViews.ts";

export interface AppProps {
  controller: TuiController;
  context: string;
  url: string;
  /** A fixed screen size (tests); by default the terminal's, following resizes. */
  size?: { rows: number; columns: number };
}

/** The whole screen. It renders the controller's state and hands it every key; it decides nothing. */
export function App({ controller, context, url, size }: AppProps): React.ReactElement {
  const state = useSyncExternalStore(controller.store.subscribe, controller.store.getState);
  const terminal = useWindowSize();
  const rows = size?.rows ?? terminal.rows;
  const columns = size?.columns ?? terminal.columns;
  useEffect(() => controller.resize(rows, columns), [controller, rows, columns]);
  useInput((input, key) => controller.key(input, key));
  const main = state.help
    ? html`<${HelpOverlay} />`
    : state.view.kind === "detail"
      ? html`<${LoopDetail} state=${state} loopId=${state.view.loopId} />`
      : state.view.kind === "audit"
        ? html`<${AuditView} state=${state} />`
        : state.view.kind === "cost"
          ? html`<${CostView} state=${state} />`
          : html`<${LoopTable} state=${state} />`;
  return html`
    <${Box} flexDirection="column" width=${columns} height=${rows}>
      <${Header} state=${state} context=${context} url=${url} />
      <${Box} flexDirection="column" flexGrow=${1} overflow="hidden">${main}</${Box}>
      <${Footer} state=${state} />
    </${Box}>
  `;
}
