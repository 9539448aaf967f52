// Relay URLs of `action ... relay host URL` (dispatcher/mta, and `smtpd -n` warnings):
// [proto://[label@]]host[:port], proto smtp (default), smtp+tls, smtp+notls, smtps, lmtp.
export type RelayProto = "smtp" | "smtp+tls" | "smtp+notls" | "smtps" | "lmtp";

export interface RelayUrl {
  readonly proto: RelayProto;
  readonly label: string | null;
  readonly host: string;
  readonly port: number | null;
}

const PROTOS: readonly RelayProto[] = ["smtp", "smtp+tls", "smtp+notls", "smtps", "lmtp"];

export function parseRelayUrl(text: string): RelayUrl | { error: string } {
  let rest = text;
  let proto: RelayProto = "smtp";
  const sep = rest.indexOf("://");
  if (sep >= 0) {
    const p = rest.slice(0, sep).toLowerCase();
    if (!(PROTOS as readonly string[]).includes(p))
      return { error: `unknown protocol "${rest.slice(0, sep)}"` };
    proto = p as RelayProto;
    rest = rest.slice(sep + 3);
  }
  let label: string | null = null;
  const at = rest.lastIndexOf("@");
  if (at >= 0) {
    label = rest.slice(0, at);
    rest = rest.slice(at + 1);
    if (label === "") return { error: "empty credentials label" };
    if (proto !== "smtp+tls" && proto !== "smtps")
      return { error: "a credentials label needs smtp+tls:// or smtps://" };
  }
  let host: string;
  let portText: string | null = null;
  if (rest.startsWith("[")) {
    const end = rest.indexOf("]");
    if (end < 0) return { error: "unterminated [address]" };
    host = rest.slice(1, end);
    const after = rest.slice(end + 1);
    if (after !== "") {
      if (!after.startsWith(":")) return { error: "garbage after [address]" };
      portText = after.slice(1);
    }
  } else {
    const colon = rest.indexOf(":");
    host = colon < 0 ? rest : rest.slice(0, colon);
    portText = colon < 0 ? null : rest.slice(colon + 1);
  }
  if (host === "" || !/^[A-Za-z0-9._:-]+$/.test(host)) return { error: `invalid host "${host}"` };
  let port: number | null = null;
  if (portText !== null) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      return { error: `invalid port "${portText}"` };
    }
    port = Number(portText);
  }
  if (proto === "lmtp" && port === null && !host.startsWith("/"))
    return { error: "lmtp:// needs a port" };
  return { proto, label, host, port };
}
