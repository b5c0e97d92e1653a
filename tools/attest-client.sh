#!/usr/bin/env bash
# kldload reference attestation client: the public wire contract of /api/v1/attest, followed with
# nothing but tpm2-tools, curl, jq, openssl and wg. It is what kldload-agent does, written so any
# operator can read it, and it runs in kldload's tests against swtpm.
#
#   TPM2TOOLS_TCTI=device:/dev/tpmrm0 [KLDLOAD_FACTS=facts.json] tools/attest-client.sh SERVER_URL BOOT_TOKEN MAC [EVENT_LOG]
#   tools/attest-client.sh --qualifying-data NONCE.bin WG_PUBLIC.raw [FACTS.json]   # prints the hex, nothing else
#
# KLDLOAD_FACTS names a JSON object of hardware facts (kldload-agent's schema, or any object); it is
# sent as `facts` and bound into the quote: qualifying data = SHA-256(nonce || WireGuard key ||
# SHA-256(RFC 8785 form of the facts)). Without it the quote binds SHA-256(nonce || WireGuard key).
# The RFC 8785 form is made with `jq -cSj .` (members sorted, no whitespace), which equals RFC 8785 for
# facts with ASCII member names and numbers that are integers or short decimals (jq 1.6 sorts by code
# point and writes shortest round-trip numbers; kldload-agent's facts are of that kind).
#
# SERVER_URL and BOOT_TOKEN are kldload.server= and kldload.token= from the kernel command line.
# EVENT_LOG defaults to /sys/kernel/security/tpm0/binary_bios_measurements when it exists.
# Prints the activate response (mesh address, certificate, WireGuard configuration) on stdout.
set -euo pipefail

# qualifying_data NONCE_FILE WG_RAW_FILE [FACTS_FILE]: the quote's qualifying data, hex.
qualifying_data() {
  if [ -n "${3:-}" ]; then
    # The facts' digest enters as its 32 raw bytes.
    { cat "$1" "$2"; jq -cSj . "$3" | openssl dgst -sha256 -binary; } | sha256sum | cut -d' ' -f1
  else
    cat "$1" "$2" | sha256sum | cut -d' ' -f1
  fi
}

if [ "${1:-}" = "--qualifying-data" ]; then
  qualifying_data "${2:?nonce file}" "${3:?WireGuard public key file (32 raw bytes)}" "${4:-}"
  exit 0
fi

server=${1:?usage: attest-client.sh SERVER_URL BOOT_TOKEN MAC [EVENT_LOG]}
token=${2:?boot token missing}
mac=${3:?MAC missing}
eventlog=${4:-/sys/kernel/security/tpm0/binary_bios_measurements}
facts=${KLDLOAD_FACTS:-}
if [ -n "$facts" ]; then
  facts=$(realpath "$facts")
fi
server=${server%/}

work=$(mktemp -d)
cleanup() {
  # Transient objects live in the TPM's three slots when there is no resource manager: free them.
  [ -f "$work/session.ctx" ] && tpm2_flushcontext "$work/session.ctx" >/dev/null 2>&1
  tpm2_flushcontext -t >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

say() { echo "attest-client: $*" >&2; }

# post STEP JSON: POST to /api/v1/attest/STEP; the body lands in STEP.json; fails on HTTP >= 400.
post() {
  local code
  code=$(curl -sS -o "$1.json" -w '%{http_code}' -H 'content-type: application/json' --data-binary "$2" "$server/api/v1/attest/$1")
  if [ "$code" -ge 400 ]; then
    say "$1 refused with HTTP $code: $(jq -r '(.reason // "") + ": " + (.detail // .title // "")' "$1.json" 2>/dev/null || cat "$1.json")"
    exit 1
  fi
  echo "$code"
}

hex() { od -An -v -tx1 "$1" | tr -d ' \n'; }

# tpm2-tools keep an object loaded after saving its context; without a resource manager (swtpm,
# /dev/tpm0) the TPM has three slots, so free them after every step (saved contexts stay usable).
flush() { tpm2_flushcontext -t >/dev/null 2>&1 || true; }

say "reading the EK and creating an AK"
tpm2_createek -c ek.ctx -G rsa -u ek.pub >/dev/null
flush
tpm2_createak -C ek.ctx -c ak.ctx -G rsa -g sha256 -s rsassa -u ak.pub -n ak.name >/dev/null
flush

# The WireGuard key: kldload-agent derives it from the TPM; any X25519 key satisfies the contract.
wg genkey > wg.key
wg pubkey < wg.key > wg.pub

say "challenge"
post challenge "$(jq -n --arg t "$token" --arg m "$mac" '{bootToken: $t, mac: $m}')" >/dev/null
sid=$(jq -r .sessionId challenge.json)
pcrs=$(jq -r '.pcrSelection.sha256 | join(",")' challenge.json)
jq -r .nonce challenge.json | base64 -d > nonce.bin
base64 -d wg.pub > wg.raw
qualifying_data nonce.bin wg.raw "$facts" > qualifying.hex

say "quote of sha256:$pcrs"
tpm2_quote -c ak.ctx -l "sha256:$pcrs" -q "$(cat qualifying.hex)" -m quote.msg -s quote.sig -g sha256 >/dev/null
flush
tpm2_pcrread "sha256:$pcrs" -o pcrs.bin >/dev/null
i=0
echo '{}' > pcrs.json
for pcr in ${pcrs//,/ }; do
  value=$(dd if=pcrs.bin bs=32 skip="$i" count=1 status=none | od -An -v -tx1 | tr -d ' \n')
  jq --arg k "$pcr" --arg v "$value" '.[$k] = $v' pcrs.json > pcrs.tmp && mv pcrs.tmp pcrs.json
  i=$((i + 1))
done

log_b64=""
if [ -r "$eventlog" ]; then
  log_b64=$(base64 -w0 "$eventlog")
fi

quote_body=$(jq -n \
  --arg sid "$sid" \
  --arg ek "$(base64 -w0 ek.pub)" \
  --arg ak "$(base64 -w0 ak.pub)" \
  --arg quote "$(base64 -w0 quote.msg)" \
  --arg sig "$(base64 -w0 quote.sig)" \
  --slurpfile pcrs pcrs.json \
  --arg log "$log_b64" \
  --arg wg "$(cat wg.pub)" \
  --argjson facts "$(if [ -n "$facts" ]; then jq -cS . "$facts"; else echo null; fi)" \
  '{sessionId: $sid, ekPublic: $ek, akPublic: $ak, quote: $quote, signature: $sig,
    pcrs: {sha256: $pcrs[0]}, wireguardPublicKey: $wg}
   + (if $log == "" then {} else {eventLog: $log} end)
   + (if $facts == null then {} else {facts: $facts} end)')
post quote "$quote_body" >/dev/null

say "activating the credential"
# tpm2-tools credential file: magic BADCC0DE, version 1, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET.
{ printf '\xba\xdc\xc0\xde\x00\x00\x00\x01'; jq -r .credentialBlob quote.json | base64 -d; jq -r .encryptedSecret quote.json | base64 -d; } > cred.in
tpm2_startauthsession --policy-session -S session.ctx >/dev/null
tpm2_policysecret -S session.ctx -c e >/dev/null
tpm2_activatecredential -c ak.ctx -C ek.ctx -i cred.in -o secret.bin -P "session:session.ctx" >/dev/null
flush
tpm2_flushcontext session.ctx >/dev/null
rm -f session.ctx
proof=$(printf '%s' "$sid" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(hex secret.bin)" -binary | base64 -w0)
code=$(post activate "$(jq -n --arg sid "$sid" --arg p "$proof" '{sessionId: $sid, proof: $p}')")
state=$(jq -r .state activate.json)
say "state: $state (HTTP $code)"

if [ "$state" = "Attested" ]; then
  # kldload-agent sends this through the WireGuard tunnel to the hub's mesh address.
  post ready "$(jq -n --arg sid "$sid" '{sessionId: $sid}')" >/dev/null
  say "ready: $(jq -r .state ready.json)"
fi
cat activate.json
