import { Box, useInput, useWindowSize } from "ink";
import React, { useEffect, useSyncExternalStore } from "react";
import type { TuiController } from "../controller.ts";
import { Footer } from "./Footer.ts";
import { Header } from "./Header.ts";
import { HelpOverlay } from "./HelpOverlay.ts";
import { LoopDetail } from "./LoopDetail.ts";
import { LoopTable } from "./LoopTable.ts";
import { AuditView, CostView } from "./RecordViews.ts";

const h = React.createElement;

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
    ? h(HelpOverlay)
    : state.view.kind === "detail"
      ? h(LoopDetail, { state, loopId: state.view.loopId })
      : state.view.kind === "audit"
        ? h(AuditView, { state })
        : state.view.kind === "cost"
          ? h(CostView, { state })
          : h(LoopTable, { state });
  return h(
    Box,
    { flexDirection: "column", width: columns, height: rows },
    h(Header, { state, context, url }),
    h(Box, { flexDirection: "column", flexGrow: 1, overflow: "hidden" }, main),
    h(Footer, { state }),
  );
}
