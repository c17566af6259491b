// Refuses passwords that guessers try first. Length alone (12+) lets through "password1234" and "aaaaaaaaaaaa".

const COMMON_WORDS = new Set(
  `password passw0rd pass word qwerty qwertz azerty asdf zxcv letmein welcome admin administrator root login
  iloveyou love monkey dragon football baseball soccer hockey sunshine princess master shadow superman batman
  trustno secret changeme default backup backups database postgres mysql mariadb test testing guest user abc
  abcdef hello freedom whatever starwars computer internet company summer winter spring autumn january
  february march april june july august september october november december`.split(/\s+/),
);

const COMMON_WHOLE = new Set([
  '123456789012',
  '1234567890123',
  '12345678901234',
  '098765432109',
  'qwertyuiopas',
  'qwertyuiop123',
  '1q2w3e4r5t6y',
  '1qaz2wsx3edc',
  'zaq12wsxcde3',
  'q1w2e3r4t5y6',
  'abcdefghijkl',
  'abc123abc123',
]);

const SEQUENCES = ['abcdefghijklmnopqrstuvwxyz', '01234567890', 'qwertyuiopasdfghjklzxcvbnm', '1qaz2wsx3edc4rfv'];

/** Why the password is easy to guess, or undefined when it is not on any list the platform knows. */
export function weakPasswordReason(password: string, context: { email?: string; tenantName?: string } = {}) {
  const lower = password.toLowerCase();
  if (COMMON_WHOLE.has(lower)) return 'it is on the list of most-used passwords';
  if (new Set(lower).size < 5) return 'it repeats too few different characters';
  const letters = lower.replace(/[^a-z]/g, '');
  if (isSequence(lower) || (letters.length >= 6 && isSequence(letters))) return 'it is a keyboard or alphabet sequence';
  const core = lower.replace(/[^a-z]+/g, ' ').trim();
  const words = core.split(' ').filter(Boolean);
  if (words.length > 0 && words.every((w) => isCommonWord(w))) return 'it is a common word with digits or symbols';
  const local = context.email?.split('@')[0]?.toLowerCase();
  if (local && local.length >= 4 && lower.includes(local)) return 'it contains the email address';
  const tenant = context.tenantName?.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (tenant && tenant.length >= 4 && lower.replace(/[^a-z0-9]/g, '').includes(tenant))
    return 'it contains the organisation name';
  return undefined;
}

function isSequence(text: string): boolean {
  return SEQUENCES.some((s) => s.includes(text) || [...s].reverse().join('').includes(text));
}

/** A word, or the same common word repeated ("passwordpassword"). */
function isCommonWord(word: string): boolean {
  if (COMMON_WORDS.has(word)) return true;
  for (const w of COMMON_WORDS) if (w.length >= 3 && word === w.repeat(word.length / w.length)) return true;
  return false;
}
