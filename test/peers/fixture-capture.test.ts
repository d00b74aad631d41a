/** The bundled demo capture (a real libiscsi ↔ tgtd session with CHAP and header digests) reads as tshark reads it. */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { decodeCapture } from '../../src/pdu/trace-decode.js';
import { describePeers } from '../helpers/peers.js';
import { tsharkFields } from '../helpers/tshark.js';

const FIXTURE = new URL('../../fixtures/tgtd-chap-session.pcap', import.meta.url).pathname;
const PORT = 3263;

describePeers(['tshark'], 'bundled capture fixtures/tgtd-chap-session.pcap', () => {
  it('every PDU matches tshark: frame, opcode, ITT and DataSegmentLength', async () => {
    const ours = decodeCapture(readFileSync(FIXTURE), { port: PORT });
    expect(ours.problems).toEqual([]);
    expect(ours.pdus).toHaveLength(40);
    const rows = await tsharkFields(FIXTURE, {
      port: PORT,
      fields: ['frame.number', 'iscsi.opcode', 'iscsi.initiatortasktag', 'iscsi.datasegmentlength'],
    });
    expect(rows.map((r) => r.map(Number))).toEqual(
      ours.pdus.map((t) => [t.frame, t.opcode, t.pdu!.initiatorTaskTag, t.pdu!.data.length]),
    );
    // The failed login (status 0x0201) and the header digests after the CHAP logins are part of the tour.
    const statuses = ours.pdus.flatMap((t) => (t.pdu?.kind === 'login-response' ? [t.pdu.statusClass] : []));
    expect(statuses).toContain(2);
    expect(ours.pdus.filter((t) => t.pdu?.kind === 'scsi-command' && t.length === 52)).toHaveLength(7);
  });
});
