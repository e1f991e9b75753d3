/**
 * Keeps every column name and makes repeats distinct, in column order (`?column?`,
 * `?column?_2`): a JSON row cannot hold two keys of one name.
 */
export function distinctNames(names: string[]): string[] {
  const used = new Set<string>();
  return names.map((name) => {
    let candidate = name;
    for (let n = 2; used.has(candidate); n++) candidate = `${name}_${n}`;
    used.add(candidate);
    return candidate;
  });
}
