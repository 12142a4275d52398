// An agency's client written by nobody here: the npm package `http-message-signatures`
// (RFC 9421) signs with the agency's Ed25519 key, Node's own fetch sends it.
// Input (JSON on stdin): {base, method, path, body, keyPem, keyid, idempotencyKey}.
// Output (JSON on stdout): {status, body, headers} of the answer, and the signed headers sent.
'use strict';
const crypto = require('crypto');
const { httpbis, createSigner } = require('http-message-signatures');

async function main() {
  const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
  const key = createSigner(crypto.createPrivateKey(input.keyPem), 'ed25519', input.keyid);
  const body = input.body === null ? '' : input.body;
  const headers = {};
  const fields = ['@method', '@path', '@query'];
  const params = ['keyid', 'alg', 'created', 'expires'];
  const paramValues = {};
  if (input.method !== 'GET') {
    // RFC 9530 Content-Digest, computed here (the signing library leaves it to the caller).
    const digest = crypto.createHash('sha256').update(Buffer.from(body, 'utf8')).digest('base64');
    headers['content-digest'] = `sha-256=:${digest}:`;
    headers['idempotency-key'] = input.idempotencyKey;
    fields.push('content-digest', 'idempotency-key');
    if (body) {
      headers['content-type'] = 'application/json';
      fields.push('content-type');
    }
    params.push('nonce');
    paramValues.nonce = crypto.randomBytes(18).toString('base64url');
  }
  const url = input.base + input.path;
  const signed = await httpbis.signMessage(
    { key, fields, params, paramValues, name: 'peer' },
    { method: input.method, url, headers },
  );
  const answer = await fetch(url, {
    method: input.method,
    headers: signed.headers,
    body: input.method === 'GET' ? undefined : body,
  });
  const text = await answer.text();
  process.stdout.write(JSON.stringify({ status: answer.status, body: text, sent: signed.headers }));
}

main().catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
