/**
 * The staff password policy as the user types (DOMAIN.md §10: >= 12 characters, 3 of 4 classes).
 * The server checks it again, together with "not the username or phone", and names the field.
 */
export function passwordProblems(password: string): string[] {
  const out: string[] = [];
  if (password.length < 12) out.push("password.tooShort");
  const classes = [/[A-Z]/, /[a-z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((re) => re.test(password)).length;
  if (classes < 3) out.push("password.classes");
  return out;
}
