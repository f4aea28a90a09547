/**
 * The tagged template every Ink component (the TUI's and the PRD wizard's) is written in: htm's
 * JSX-like syntax, read at run time, because Node runs these files by type stripping, which does
 * not transform JSX. A component reads as Ink's own examples do, with `${}` where JSX has `{}`:
 *
 *   html`
 *     <${Box} flexDirection="column" height=${4}>
 *       <${Text} bold color="magenta">smith</${Text}>
 *       ${items.map((item) => html`<${Text} key=${item.id}>${item.name}</${Text}>`)}
 *     </${Box}>
 *   `
 *
 * Components and numbers go in `${}`; a bare attribute is `true`; whitespace that holds a newline
 * is dropped at the start and end of a text run, so significant spaces are written `${" "}` as in JSX.
 */
import { html as htmReact } from "htm/react";
import { isValidElement, type ReactElement } from "react";

/**
 * One element from a template with exactly one root (htm would return an array for several, or a
 * bare string for text alone); anything else is a mistake in the template, thrown at its first render.
 */
export function html(strings: TemplateStringsArray, ...values: unknown[]): ReactElement {
  const element: unknown = htmReact(strings, ...values);
  if (!isValidElement(element)) {
    const got = Array.isArray(element) ? `${element.length} root nodes` : `a ${typeof element}`;
    throw new TypeError(`html\`…\` needs exactly one root element, got ${got}`);
  }
  return element;
}
