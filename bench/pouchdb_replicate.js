// PouchDB's own replication of the same documents, for bench/sync_bench.py.
// Usage: node bench/pouchdb_replicate.js <server url> <n> <batch_size>
// Push: an in-memory PouchDB -> a new server db; pull: that db -> a new in-memory PouchDB.
// Prints one JSON line: {"push_seconds": ..., "pull_seconds": ..., "pushed": n, "pulled": n}.
'use strict';
const path = require('path');
const mods = path.join(__dirname, '..', '.ci', 'node', 'node_modules');
const need = (name) => require(path.join(mods, name));
const PouchDB = need('pouchdb-core')
  .plugin(need('pouchdb-adapter-memory'))
  .plugin(need('pouchdb-adapter-http'))
  .plugin(need('pouchdb-replication'));

// The same documents as sync_bench.py's make_doc (about 1 KB of JSON each).
function makeDoc(i) {
  const words = (i.toString(36) + ' lorem ipsum dolor sit amet ').repeat(40).slice(0, 900);
  return { _id: 'doc' + String(i).padStart(6, '0'), i: i, name: 'name-' + i, tags: ['a', 'b', String(i % 7)], text: words };
}

async function main() {
  const [server, nText, batchText] = process.argv.slice(2);
  const n = parseInt(nText, 10);
  const batch = parseInt(batchText, 10);
  const stamp = Date.now().toString(36);
  const src = new PouchDB('src-' + stamp, { adapter: 'memory' });
  const docs = [];
  for (let i = 0; i < n; i++) docs.push(makeDoc(i));
  for (let i = 0; i < n; i += 1000) await src.bulkDocs(docs.slice(i, i + 1000));
  const remoteUrl = server + '/pouch-' + stamp;
  const remote = new PouchDB(remoteUrl);
  await remote.info();  // creates the db
  let t = process.hrtime.bigint();
  const pushed = await PouchDB.replicate(src, remote, { batch_size: batch });
  const pushSeconds = Number(process.hrtime.bigint() - t) / 1e9;
  const dst = new PouchDB('dst-' + stamp, { adapter: 'memory' });
  t = process.hrtime.bigint();
  const pulled = await PouchDB.replicate(remote, dst, { batch_size: batch });
  const pullSeconds = Number(process.hrtime.bigint() - t) / 1e9;
  await remote.destroy();
  console.log(JSON.stringify({
    push_seconds: pushSeconds, pull_seconds: pullSeconds,
    pushed: pushed.docs_written, pulled: pulled.docs_written,
  }));
}

main().catch((err) => { console.error(err); process.exit(1); });
