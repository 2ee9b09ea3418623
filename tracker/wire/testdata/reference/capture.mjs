// capture.mjs records real websocket traffic with the reference tracker,
// bittorrent-tracker 11.2.3, for the tests of package wire. Client messages
// are built the way lib/client/websocket-tracker.js builds them (its WebRTC
// peers cannot run in node); server messages are what server.js sends.
//
//	cd /tmp && mkdir -p btt && cd btt && npm pack bittorrent-tracker@11.2.3 &&
//	tar xzf bittorrent-tracker-*.tgz && (cd package && npm install --omit=dev --ignore-scripts)
//	BTT=/tmp/btt/package node capture.mjs > capture.jsonl
//
// Each output line is {"name":…,"dir":"A->server"|"server->A"|"server-warning","frame":…}.
const BTT = process.env.BTT || '/tmp/btt/package'
const { default: Server } = await import(`${BTT}/server.js`)
const { default: WebSocket } = await import(`${BTT}/node_modules/ws/index.js`)

// A Chrome data-channel-only offer after ICE gathering (simple-peer, trickle off).
const sdpOffer = [
  'v=0',
  'o=- 2587303411585946323 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'a=extmap-allow-mixed',
  'a=msid-semantic: WMS',
  'm=application 58372 UDP/DTLS/SCTP webrtc-datachannel',
  'c=IN IP4 203.0.113.57',
  'a=candidate:2999745851 1 udp 2122260223 192.168.1.23 58372 typ host generation 0 network-id 1 network-cost 10',
  'a=candidate:1081362346 1 udp 2122194687 10.20.30.4 51820 typ host generation 0 network-id 2 network-cost 50',
  'a=candidate:3952497531 1 udp 1685987071 203.0.113.57 58372 typ srflx raddr 192.168.1.23 rport 58372 generation 0 network-id 1 network-cost 10',
  'a=candidate:4233069003 1 tcp 1518280447 192.168.1.23 9 typ host tcptype active generation 0 network-id 1 network-cost 10',
  'a=candidate:2056342618 1 tcp 1518214911 10.20.30.4 9 typ host tcptype active generation 0 network-id 2 network-cost 50',
  'a=candidate:1530386211 1 udp 41885439 198.51.100.7 3478 typ relay raddr 203.0.113.57 rport 58372 generation 0 network-id 1 network-cost 10',
  'a=ice-ufrag:yH3k',
  'a=ice-pwd:Qe2Xb7vN0rTfL9sWcUj4pZ1m',
  'a=ice-options:trickle',
  'a=fingerprint:sha-256 4F:A2:9C:11:D0:6B:E7:38:5A:C4:93:0E:F1:7D:22:B8:6C:E5:04:9A:3F:71:D8:2C:B6:13:EE:58:A0:47:9D:C1',
  'a=setup:actpass',
  'a=mid:0',
  'a=sctp-port:5000',
  'a=max-message-size:262144',
  ''].join('\r\n')
const sdpAnswer = sdpOffer.replace('a=setup:actpass', 'a=setup:active').replace('2587303411585946323', '7716409135046385203')

const bin = a => String.fromCharCode(...a)
const ascii = s => s
// latin1 edge cases: 0x00 " \ DEL 0x80 0xff and the short escapes
const ihEdge = bin([0x00, 0x22, 0x5c, 0x7f, 0x80, 0xff, 0x0a, 0x09, 0x41, 0x2f, 0xe9, 0x1f, 0x20, 0x7e, 0x08, 0x0c, 0x0d, 0xc3, 0xa9, 0x3c])
const ih = ascii('fusioncast-demo-0001')
const ih2 = ascii('fusioncast-demo-0002')
const peerA = ascii('-WW0208-aaaaaaaaaaaa')
const peerB = ascii('-WW0208-bbbbbbbbbbbb')
const peerE = bin([0x2d, 0x57, 0x57, 0x30, 0x32, 0x30, 0x38, 0x2d, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02, 0x03, 0xf0, 0x9f, 0x98, 0x80])
const offerId1 = ascii('offer-id-00000000001')
const offerId2 = ascii('offer-id-00000000002')
const offerIdE = bin(Array.from({ length: 20 }, (_, i) => (i * 13 + 128) % 256))

const server = new Server({ udp: false, http: false, stats: false })
await new Promise(resolve => server.listen(0, '127.0.0.1', resolve))
const port = server.ws.address().port
const log = []
let step = ''
server.on('warning', e => log.push({ name: step, dir: 'server-warning', frame: e.message }))
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
function conn (name) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}`)
  ws.on('message', d => log.push({ name: step, dir: `server->${name}`, frame: d.toString('utf8') }))
  return new Promise(resolve => ws.on('open', () => resolve({
    async send (stepName, obj) {
      step = stepName
      const frame = typeof obj === 'string' ? obj : JSON.stringify(obj)
      log.push({ name: step, dir: `${name}->server`, frame })
      ws.send(frame)
      await sleep(100)
    }
  })))
}
// Like WebSocketTracker.announce: opts first, then action/info_hash/peer_id,
// then numwant and offers unless the event is stopped or completed.
function announce (opts, infoHash, peerId, offers) {
  const params = Object.assign({}, opts, { action: 'announce', info_hash: infoHash, peer_id: peerId })
  if (opts.event === 'stopped' || opts.event === 'completed') return params
  params.numwant = Math.min(opts.numwant, 5)
  params.offers = offers
  return params
}
const offer = (sdp, id) => ({ offer: { type: 'offer', sdp }, offer_id: id })
const A = await conn('A'); const B = await conn('B'); const C = await conn('C'); const E = await conn('E')
await A.send('started-left-null', announce({ numwant: 50, uploaded: 0, downloaded: 0, left: NaN, event: 'started' }, ih, peerA, []))
await B.send('started-offers', announce({ numwant: 50, uploaded: 0, downloaded: 0, left: 7340032, event: 'started' }, ih, peerB,
  [offer(sdpOffer, offerId1), offer(sdpOffer, offerId2)]))
await A.send('answer', { action: 'announce', info_hash: ih, peer_id: peerA, to_peer_id: peerB, answer: { type: 'answer', sdp: sdpAnswer }, offer_id: offerId1 })
await A.send('answer-unknown-peer', { action: 'announce', info_hash: ih, peer_id: peerA, to_peer_id: ascii('-WW0208-zzzzzzzzzzzz'), answer: { type: 'answer', sdp: sdpAnswer }, offer_id: offerId1 })
await A.send('update', announce({ numwant: 50, uploaded: 123, downloaded: 4567, left: 0 }, ih, peerA, []))
await B.send('completed', announce({ numwant: 50, uploaded: 9, downloaded: 7340032, left: 0, event: 'completed' }, ih, peerB, []))
await E.send('edge-started', announce({ numwant: 50, uploaded: 0, downloaded: 0, left: 100, event: 'started' }, ihEdge, peerE, [offer(sdpOffer, offerIdE)]))
await C.send('scrape-string', { action: 'scrape', info_hash: ih })
await C.send('scrape-array', { action: 'scrape', info_hash: [ih, ih2] })
await C.send('scrape-all', { action: 'scrape' })
await C.send('bad-info-hash', { action: 'announce', info_hash: 'short', peer_id: peerA })
await C.send('bad-event', { action: 'announce', info_hash: ih, peer_id: ascii('-WW0208-cccccccccccc'), event: 'bogus' })
await C.send('paused', { action: 'announce', info_hash: ih, peer_id: ascii('-WW0208-cccccccccccc'), event: 'paused', left: null })
await C.send('bad-action', { action: 'hello' })
await C.send('not-json', '{not json')
await B.send('stopped', announce({ numwant: 50, uploaded: 9, downloaded: 7340032, left: 0, event: 'stopped' }, ih, peerB, []))
await sleep(200)
for (const e of log) console.log(JSON.stringify(e))
process.exit(0)
