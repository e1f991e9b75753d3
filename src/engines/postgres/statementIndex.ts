const IDENT_CHAR = /[A-Za-z0-9_\u0080-\uffff$]/;
const DOLLAR_TAG = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;

/**
 * Which statement of a SQL text holds PostgreSQL's error position (1-based, in characters of
 * the whole text): the number of statement-ending semicolons before it, plus one. Semicolons
 * inside string literals (also E'' and dollar-quoted), quoted identifiers and comments do not
 * count. A syntax error is found before anything runs, so only the position can tell where it is.
 * (A `BEGIN ATOMIC ... END` function body counts its inner semicolons; such a text is rare in
 * an editor and only the index is off.)
 */
export function statementIndexAt(text: string, position: number): number {
  const chars = Array.from(text);
  const end = Math.min(position - 1, chars.length);
  let statement = 1;
  let i = 0;
  while (i < end) {
    const c = chars[i] ?? "";
    const next = chars[i + 1] ?? "";
    if (c === "-" && next === "-") {
      while (i < end && chars[i] !== "\n") i++;
    } else if (c === "/" && next === "*") {
      let depth = 1;
      i += 2;
      while (i < end && depth > 0) {
        if (chars[i] === "/" && chars[i + 1] === "*") {
          depth++;
          i += 2;
        } else if (chars[i] === "*" && chars[i + 1] === "/") {
          depth--;
          i += 2;
        } else i++;
      }
      continue;
    } else if (c === "'") {
      const prev = chars[i - 1] ?? "";
      const escapes = (prev === "E" || prev === "e") && !IDENT_CHAR.test(chars[i - 2] ?? "");
      i++;
      while (i < end) {
        if (escapes && chars[i] === "\\") i += 2;
        else if (chars[i] === "'" && chars[i + 1] === "'") i += 2;
        else if (chars[i] === "'") break;
        else i++;
      }
    } else if (c === '"') {
      i++;
      while (i < end) {
        if (chars[i] === '"' && chars[i + 1] === '"') i += 2;
        else if (chars[i] === '"') break;
        else i++;
      }
    } else if (c === "$" && !IDENT_CHAR.test(chars[i - 1] ?? "")) {
      const tag = DOLLAR_TAG.exec(chars.slice(i, i + 64).join(""));
      if (tag) {
        const delimiter = Array.from(tag[0]);
        i += delimiter.length;
        while (i < end && !delimiter.every((d, k) => chars[i + k] === d)) i++;
        i += delimiter.length - 1;
      }
    } else if (c === ";") {
      statement++;
    }
    i++;
  }
  return statement;
}
