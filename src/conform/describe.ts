/**
 * One-line descriptions of PDUs for verdict evidence and reports: the kind and the fields a conformance reader
 * needs (tags, sequence numbers, status). CHAP secrets never appear: text keys are listed by name only.
 * @module
 */
import { decodeTextLenient } from '../pdu/text.js';
import type { Pdu } from '../pdu/types.js';
import type { Received } from './probe.js';
import type { Evidence } from './types.js';

const hex = (n: number, width = 8): string => `0x${n.toString(16).padStart(width, '0')}`;

/** The first 48 bytes (the BHS) in hex. */
export function hex48(bytes: Uint8Array): string {
  return Buffer.from(bytes.subarray(0, 48)).toString('hex');
}

function keys(data: Uint8Array): string {
  if (data.length === 0) return '';
  const { pairs } = decodeTextLenient(data);
  const names = pairs.map(([k, v]) => (k.startsWith('CHAP_') ? k : `${k}=${v.length > 40 ? `${v.slice(0, 40)}…` : v}`));
  return ` keys[${names.join(' ')}]`;
}

/** A one-line description of a PDU. */
export function describePdu(p: Pdu): string {
  const itt = `itt=${hex(p.initiatorTaskTag)}`;
  switch (p.kind) {
    case 'login-request':
      return `login-request T=${+p.transit} C=${+p.continue} CSG=${p.currentStage} NSG=${p.nextStage} ver=${p.versionMin}..${p.versionMax} tsih=${p.tsih} ${itt} cmdSN=${p.cmdSN}${keys(p.data)}`;
    case 'login-response':
      return `login-response status=${hex((p.statusClass << 8) | p.statusDetail, 4)} T=${+p.transit} C=${+p.continue} CSG=${p.currentStage} NSG=${p.nextStage} active=${p.versionActive} tsih=${p.tsih} ${itt} statSN=${p.statSN}${keys(p.data)}`;
    case 'text-request':
    case 'text-response':
      return `${p.kind} F=${+p.final} C=${+p.continue} ${itt} ttt=${hex(p.targetTransferTag)} ${p.data.length} bytes${keys(p.data)}`;
    case 'nop-out':
      return `nop-out I=${+p.immediate} ${itt} ttt=${hex(p.targetTransferTag)} cmdSN=${p.cmdSN} ${p.data.length} bytes`;
    case 'nop-in':
      return `nop-in ${itt} ttt=${hex(p.targetTransferTag)} statSN=${p.statSN} expCmdSN=${p.expCmdSN} maxCmdSN=${p.maxCmdSN} ${p.data.length} bytes`;
    case 'scsi-command':
      return `scsi-command I=${+p.immediate} F=${+p.final} R=${+p.read} W=${+p.write} ${itt} edtl=${p.expectedDataTransferLength} cmdSN=${p.cmdSN} cdb=${Buffer.from(p.cdb.subarray(0, 10)).toString('hex')} ${p.data.length} bytes`;
    case 'scsi-response':
      return `scsi-response response=${p.response} status=${hex(p.status, 2)} ${itt} statSN=${p.statSN} residual=${p.residualCount}`;
    case 'data-out':
      return `data-out F=${+p.final} ${itt} ttt=${hex(p.targetTransferTag)} dataSN=${p.dataSN} offset=${p.bufferOffset} ${p.data.length} bytes`;
    case 'data-in':
      return `data-in F=${+p.final} S=${+p.statusPresent} ${itt} dataSN=${p.dataSN} offset=${p.bufferOffset} ${p.data.length} bytes`;
    case 'r2t':
      return `r2t ${itt} ttt=${hex(p.targetTransferTag)} r2tSN=${p.r2tSN} offset=${p.bufferOffset} length=${p.desiredDataTransferLength}`;
    case 'reject':
      return `reject reason=${hex(p.reason, 2)} statSN=${p.statSN} rejected opcode=${hex((p.data[0] ?? 0) & 0x3f, 2)}`;
    case 'task-management-request':
      return `tmf-request function=${p.function} ${itt} ref=${hex(p.referencedTaskTag)} cmdSN=${p.cmdSN}`;
    case 'task-management-response':
      return `tmf-response response=${p.response} ${itt} statSN=${p.statSN}`;
    case 'logout-request':
      return `logout-request reason=${p.reasonCode} cid=${p.cid} ${itt} cmdSN=${p.cmdSN}`;
    case 'logout-response':
      return `logout-response response=${p.response} ${itt} time2Wait=${p.time2Wait} time2Retain=${p.time2Retain}`;
    case 'async-message':
      return `async-message event=${p.asyncEvent} statSN=${p.statSN}`;
    case 'snack':
      return `snack type=${p.type} ${itt}`;
  }
}

/** Evidence lines for PDUs and received events. */
export function evidenceOf(items: readonly (Pdu | Received | Evidence | undefined)[]): Evidence[] {
  const out: Evidence[] = [];
  for (const item of items) {
    if (!item) continue;
    if ('direction' in item) out.push(item);
    else if (item.kind === 'pdu')
      out.push({ direction: 'target', summary: describePdu(item.pdu), bhs: hex48(item.wire) });
    else if (item.kind === 'invalid') {
      out.push({
        direction: 'target',
        summary: `refused by the strict decoder: ${item.error.message}`,
        ...(item.wire ? { bhs: hex48(item.wire) } : {}),
      });
    } else if (item.kind === 'closed') out.push({ direction: 'target', summary: 'connection closed' });
    else if (item.kind === 'timeout') out.push({ direction: 'target', summary: 'no answer (timeout)' });
    else
      out.push({
        direction:
          item.kind.endsWith('-request') ||
          item.kind === 'nop-out' ||
          item.kind === 'scsi-command' ||
          item.kind === 'data-out' ||
          item.kind === 'snack'
            ? 'initiator'
            : 'target',
        summary: describePdu(item),
      });
  }
  // A close is logged by the probe and also returned as an event: show it once.
  return out.filter((e, i) => i === 0 || e.summary !== out[i - 1]!.summary || e.direction !== out[i - 1]!.direction);
}
