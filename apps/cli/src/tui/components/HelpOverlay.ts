import { Box, Text } from "ink";
import React from "react";
import { KEY_HELP } from "../keys.ts";

const h = React.createElement;

/** `?`: the key bindings, from the same table the key map documents. */
export function HelpOverlay(): React.ReactElement {
  const width = Math.max(...KEY_HELP.flatMap((g) => g.keys.map(([k]) => k.length))) + 2;
  return h(
    Box,
    { flexDirection: "column", borderStyle: "round", borderColor: "cyan", paddingX: 1, alignSelf: "flex-start" },
    h(Text, { bold: true, color: "cyan" }, "Keys"),
    ...KEY_HELP.map((group) =>
      h(
        Box,
        { key: group.title, flexDirection: "column", marginTop: 1 },
        h(Text, { bold: true }, group.title),
        ...group.keys.map(([k, what]) => h(Text, { key: k }, h(Text, { color: "yellow" }, k.padEnd(width)), what)),
      ),
    ),
    h(Box, { marginTop: 1 }, h(Text, { dimColor: true }, "any key closes this help")),
  );
}
