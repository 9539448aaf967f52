// Password checks of the lookup role: crypt(3) hashes as `smtpctl encrypt` makes them.
export { verifyPassword } from "@facteur/compat";
