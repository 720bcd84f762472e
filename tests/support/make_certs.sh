#!/usr/bin/env bash
# Throwaway certificates for the TLS tests: a CA, a server certificate for localhost /
# 127.0.0.1 and a client certificate it signed.
#   make_certs.sh DIR [PREFIX]   writes DIR/PREFIXca.pem, PREFIXserver.{pem,key},
#                                PREFIXclient.{pem,key}
set -euo pipefail
dir=$1 p=${2:-}
cd "$dir"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1" 2>/dev/null; }
key "${p}ca.key"
openssl req -x509 -new -key "${p}ca.key" -out "${p}ca.pem" -days 2 -subj "/CN=${p}test-ca" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
for who in server client; do
  key "${p}$who.key"
  openssl req -new -key "${p}$who.key" -out "${p}$who.csr" -subj "/CN=${p}$who" 2>/dev/null
  ext=$(mktemp)
  if [ "$who" = server ]; then
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$ext"
  else
    printf 'extendedKeyUsage=clientAuth\n' >"$ext"
  fi
  openssl x509 -req -in "${p}$who.csr" -CA "${p}ca.pem" -CAkey "${p}ca.key" -CAcreateserial \
    -out "${p}$who.pem" -days 2 -extfile "$ext" 2>/dev/null
  rm -f "$ext" "${p}$who.csr"
done
