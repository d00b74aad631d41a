import { describe, expect, it } from 'vitest';
import { ErrorCode, InvalidArgumentError, NegotiationError } from '../../src/errors.js';
import type { TextPair } from '../../src/pdu/text.js';
import { isAuthenticationKey, isExtensionKey, KEYS, keyDefinition } from '../../src/session/keys.js';
import { Negotiator, type NegotiatorOptions } from '../../src/session/negotiate.js';
import { DEFAULT_LOCAL_OFFER, DEFAULT_PARAMETERS, type NegotiatedParameters } from '../../src/session/params.js';

const initiator = (extra: Partial<NegotiatorOptions> = {}): Negotiator =>
  new Negotiator({ role: 'initiator', sessionType: 'Normal', ...extra });
const target = (extra: Partial<NegotiatorOptions> = {}): Negotiator =>
  new Negotiator({ role: 'target', sessionType: 'Normal', ...extra });

/** Runs `fn`, expects a NegotiationError about `key`, and returns it. */
function expectNegotiationError(fn: () => unknown, key: string): NegotiationError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(NegotiationError);
    expect((error as NegotiationError).code).toBe(ErrorCode.Negotiation);
    expect((error as NegotiationError).key).toBe(key);
    return error as NegotiationError;
  }
  throw new Error(`expected a NegotiationError about ${key}`);
}

/**
 * An initiator that has offered everything and received `answers`, plus an echo of its own value for every other
 * offer (an echo is always an acceptable answer), so that nothing stays unanswered.
 */
function answered(answers: readonly TextPair[], extra: Partial<NegotiatorOptions> = {}): Negotiator {
  const n = initiator(extra);
  const given = new Set(answers.map(([k]) => k));
  const echo = n
    .offers()
    .filter(([k]) => !given.has(k) && k !== 'MaxRecvDataSegmentLength')
    .map(([k, v]): TextPair => [k, v.split(',')[0]!]);
  n.receive([...answers, ...echo]);
  return n;
}

describe('key table (RFC 7143 §13)', () => {
  // Independent of keys.ts: [name, section, result function, default] as the RFC states them.
  const rfc: [string, string, string, string | undefined][] = [
    ['HeaderDigest', '13.1', 'list', 'None'],
    ['DataDigest', '13.1', 'list', 'None'],
    ['MaxConnections', '13.2', 'min', '1'],
    ['SendTargets', '13.3', 'declarative', undefined],
    ['TargetName', '13.4', 'declarative', undefined],
    ['InitiatorName', '13.5', 'declarative', undefined],
    ['TargetAlias', '13.6', 'declarative', undefined],
    ['InitiatorAlias', '13.7', 'declarative', undefined],
    ['TargetAddress', '13.8', 'declarative', undefined],
    ['TargetPortalGroupTag', '13.9', 'declarative', undefined],
    ['InitialR2T', '13.10', 'or', 'true'],
    ['ImmediateData', '13.11', 'and', 'true'],
    ['MaxRecvDataSegmentLength', '13.12', 'declarative', '8192'],
    ['MaxBurstLength', '13.13', 'min', '262144'],
    ['FirstBurstLength', '13.14', 'min', '65536'],
    ['DefaultTime2Wait', '13.15', 'max', '2'],
    ['DefaultTime2Retain', '13.16', 'min', '20'],
    ['MaxOutstandingR2T', '13.17', 'min', '1'],
    ['DataPDUInOrder', '13.18', 'or', 'true'],
    ['DataSequenceInOrder', '13.19', 'or', 'true'],
    ['ErrorRecoveryLevel', '13.20', 'min', '0'],
    ['SessionType', '13.21', 'declarative', undefined],
    ['TaskReporting', '13.23', 'list', 'RFC3720'],
    ['iSCSIProtocolLevel', '13.24 / RFC 7144', 'min', '1'],
    ['IFMarker', '13.25', 'reject', undefined],
    ['OFMarker', '13.25', 'reject', undefined],
    ['IFMarkInt', '13.25', 'reject', undefined],
    ['OFMarkInt', '13.25', 'reject', undefined],
  ];

  it.each(rfc)('%s is declared once, §%s, result function %s, default %s', (name, section, result, def) => {
    expect(KEYS.filter((k) => k.name === name)).toHaveLength(1);
    const key = keyDefinition(name)!;
    expect(key.section).toBe(section);
    expect(key.result).toBe(result);
    const actual = 'default' in key && key.default !== undefined ? String(key.default) : undefined;
    if (def !== undefined || key.result !== 'declarative') expect(actual).toBe(def);
  });

  it('§13: the defaults of the table are DEFAULT_PARAMETERS', () => {
    for (const key of KEYS) {
      if ('field' in key && key.field !== undefined) expect(DEFAULT_PARAMETERS[key.field]).toBe(key.default);
    }
    expect(Object.isFrozen(DEFAULT_PARAMETERS)).toBe(true);
  });

  it('§13 "Irrelevant when: SessionType=Discovery" marks exactly the data-transfer keys', () => {
    const irrelevant = KEYS.filter((k) => k.irrelevantInDiscovery).map((k) => k.name);
    expect(irrelevant.sort()).toEqual(
      [
        'DataPDUInOrder',
        'DataSequenceInOrder',
        'FirstBurstLength',
        'ImmediateData',
        'InitialR2T',
        'MaxBurstLength',
        'MaxConnections',
        'MaxOutstandingR2T',
        'TaskReporting',
        'iSCSIProtocolLevel',
      ].sort(),
    );
  });

  it('§13.22 extension keys and §12 authentication keys are recognised by name', () => {
    expect(isExtensionKey('X-com.example.foo')).toBe(true);
    expect(isExtensionKey('X#NodeArchitecture')).toBe(true);
    expect(isExtensionKey('XKey')).toBe(false);
    expect(isAuthenticationKey('CHAP_A')).toBe(true);
    expect(isAuthenticationKey('SRP_U')).toBe(true);
    expect(isAuthenticationKey('AuthMethod')).toBe(false);
    expect(keyDefinition('headerdigest')).toBeUndefined();
  });
});

describe('offers()', () => {
  it('an initiator offers every operational key with its local values, in table order', () => {
    expect(initiator().offers()).toEqual([
      ['HeaderDigest', 'None,CRC32C'],
      ['DataDigest', 'None,CRC32C'],
      ['MaxConnections', '1'],
      ['InitialR2T', 'No'],
      ['ImmediateData', 'Yes'],
      ['MaxRecvDataSegmentLength', '262144'],
      ['MaxBurstLength', '262144'],
      ['FirstBurstLength', '65536'],
      ['DefaultTime2Wait', '2'],
      ['DefaultTime2Retain', '0'],
      ['MaxOutstandingR2T', '1'],
      ['DataPDUInOrder', 'Yes'],
      ['DataSequenceInOrder', 'Yes'],
      ['ErrorRecoveryLevel', '0'],
    ]);
  });

  it('offers each key once', () => {
    const n = initiator();
    expect(n.offers().length).toBeGreaterThan(0);
    expect(n.offers()).toEqual([]);
  });

  it('§13.23, §13.24: TaskReporting and iSCSIProtocolLevel only when set explicitly', () => {
    const pairs = initiator({ local: { taskReporting: ['FastAbort', 'RFC3720'], iscsiProtocolLevel: 2 } }).offers();
    expect(pairs).toContainEqual(['TaskReporting', 'FastAbort,RFC3720']);
    expect(pairs).toContainEqual(['iSCSIProtocolLevel', '2']);
  });

  it('§13: a discovery session leaves out the keys irrelevant to it', () => {
    const names = initiator({ sessionType: 'Discovery' })
      .offers()
      .map(([k]) => k);
    expect(names).toEqual([
      'HeaderDigest',
      'DataDigest',
      'MaxRecvDataSegmentLength',
      'DefaultTime2Wait',
      'DefaultTime2Retain',
      'ErrorRecoveryLevel',
    ]);
  });

  it('§13 LO: a non-leading connection offers only IO and ALL keys', () => {
    const names = initiator({ leadingConnection: false })
      .offers()
      .map(([k]) => k);
    expect(names).toEqual(['HeaderDigest', 'DataDigest', 'MaxRecvDataSegmentLength']);
  });

  it('§13: nothing operational in the security stage; only ALL keys in the Full Feature Phase', () => {
    expect(initiator({ stage: 'security' }).offers()).toEqual([]);
    expect(initiator({ stage: 'full-feature' }).offers()).toEqual([['MaxRecvDataSegmentLength', '262144']]);
  });

  it('a target offers only what its limits cannot leave at the default, and declares MaxRecvDataSegmentLength', () => {
    const t = target({
      local: {
        headerDigest: ['CRC32C'],
        maxBurstLength: 65536,
        firstBurstLength: 4096,
        maxRecvDataSegmentLength: 8192,
      },
    });
    expect(t.offers()).toEqual([
      ['HeaderDigest', 'CRC32C'],
      ['MaxRecvDataSegmentLength', '8192'],
      ['MaxBurstLength', '65536'],
      ['FirstBurstLength', '4096'],
      ['DefaultTime2Retain', '0'],
    ]);
  });

  it('a target does not offer a key the initiator already offered', () => {
    const t = target({ local: { maxBurstLength: 65536, firstBurstLength: 4096 } });
    t.receive([
      ['MaxBurstLength', '1048576'],
      ['FirstBurstLength', '1024'],
    ]);
    expect(t.offers().map(([k]) => k)).toEqual(['MaxRecvDataSegmentLength', 'DefaultTime2Retain']);
  });

  it('offerKeys restricts the offer and must name keys the negotiator offers', () => {
    expect(initiator({ offerKeys: ['DataDigest', 'MaxRecvDataSegmentLength'] }).offers()).toEqual([
      ['DataDigest', 'None,CRC32C'],
      ['MaxRecvDataSegmentLength', '262144'],
    ]);
    expect(() => initiator({ offerKeys: ['TargetAlias'] })).toThrow(InvalidArgumentError);
    expect(() => initiator({ offerKeys: ['Bogus'] })).toThrow(InvalidArgumentError);
  });
});

describe('responding to offers (RFC 7143 §6.2)', () => {
  it('§6.2.1: the first value of the offerer list that the responder supports', () => {
    expect(target().receive([['HeaderDigest', 'CRC32C,None']])).toEqual([['HeaderDigest', 'CRC32C']]);
    expect(target({ local: { headerDigest: ['None'] } }).receive([['HeaderDigest', 'CRC32C,None']])).toEqual([
      ['HeaderDigest', 'None'],
    ]);
  });

  it('§6.2.1: unknown values in a list are ignored; nothing acceptable is answered Reject', () => {
    expect(target().receive([['DataDigest', 'X-vendor.md5,CRC32C']])).toEqual([['DataDigest', 'CRC32C']]);
    const t = target();
    expect(t.receive([['DataDigest', 'X-vendor.md5']])).toEqual([['DataDigest', 'Reject']]);
    expect(t.result().dataDigest).toBe('None');
  });

  it('§6.2.1: None is a selection only when offered; a responder that cannot live with the default fails', () => {
    const t = target({ local: { headerDigest: ['None'] } });
    expect(t.receive([['HeaderDigest', 'CRC32C']])).toEqual([['HeaderDigest', 'Reject']]);
    expect(t.result().headerDigest).toBe('None');
    expectNegotiationError(
      () => target({ local: { headerDigest: ['CRC32C'] } }).receive([['HeaderDigest', 'None']]),
      'HeaderDigest',
    );
  });

  it('§6.2.2 AND: ImmediateData=Yes meets a responder that refuses it', () => {
    const t = target({ local: { immediateData: false } });
    expect(t.receive([['ImmediateData', 'Yes']])).toEqual([['ImmediateData', 'No']]);
    expect(t.result().immediateData).toBe(false);
  });

  it('§6.2.2 OR: InitialR2T=No meets a responder that insists on R2T', () => {
    const t = target({ local: { initialR2T: true } });
    expect(t.receive([['InitialR2T', 'No']])).toEqual([['InitialR2T', 'Yes']]);
    expect(t.result().initialR2T).toBe(true);
  });

  it('§6.2.2: the answer to AND=No and OR=Yes is optional and left out; the offer decides', () => {
    const t = target({ local: { immediateData: true, dataPDUInOrder: false } });
    expect(
      t.receive([
        ['ImmediateData', 'No'],
        ['DataPDUInOrder', 'Yes'],
        ['DataSequenceInOrder', 'No'],
      ]),
    ).toEqual([['DataSequenceInOrder', 'Yes']]);
    const r = t.result();
    expect([r.immediateData, r.dataPDUInOrder, r.dataSequenceInOrder]).toEqual([false, true, true]);
  });

  it('§13 Minimum and Maximum: MaxBurstLength takes the smaller, DefaultTime2Wait (§13.15) the larger', () => {
    const t = target({ local: { maxBurstLength: 65536, firstBurstLength: 4096, defaultTime2Wait: 5 } });
    expect(
      t.receive([
        ['MaxBurstLength', '1048576'],
        ['FirstBurstLength', '1024'],
        ['DefaultTime2Wait', '0'],
        ['DefaultTime2Retain', '60'],
        ['ErrorRecoveryLevel', '2'],
      ]),
    ).toEqual([
      ['MaxBurstLength', '65536'],
      ['FirstBurstLength', '1024'],
      ['DefaultTime2Wait', '5'],
      ['DefaultTime2Retain', '0'],
      ['ErrorRecoveryLevel', '0'],
    ]);
  });

  it('§6.2.2: a number outside the key range is answered Reject and the default stays', () => {
    const t = target();
    expect(
      t.receive([
        ['MaxBurstLength', '100'],
        ['DefaultTime2Wait', '3601'],
        ['ErrorRecoveryLevel', '0x10000000000000000'.slice(0, 18)],
      ]),
    ).toEqual([
      ['MaxBurstLength', 'Reject'],
      ['DefaultTime2Wait', 'Reject'],
      ['ErrorRecoveryLevel', 'Reject'],
    ]);
    const r = t.result();
    expect([r.maxBurstLength, r.defaultTime2Wait, r.errorRecoveryLevel]).toEqual([262144, 2, 0]);
  });

  it('a malformed value is a NegotiationError naming the key', () => {
    expectNegotiationError(() => target().receive([['InitialR2T', 'yes']]), 'InitialR2T');
    expectNegotiationError(() => target().receive([['MaxBurstLength', '0123']]), 'MaxBurstLength');
    expectNegotiationError(() => target().receive([['HeaderDigest', 'CRC32C,,None']]), 'HeaderDigest');
  });

  it('§6.2: Reject, Irrelevant and NotUnderstood cannot be offered', () => {
    for (const value of ['Reject', 'Irrelevant', 'NotUnderstood']) {
      expectNegotiationError(() => target().receive([['MaxBurstLength', value]]), 'MaxBurstLength');
      expectNegotiationError(() => target().receive([['X-com.example.k', value]]), 'X-com.example.k');
    }
  });

  it('§13: keys irrelevant to a discovery session are answered Irrelevant', () => {
    const t = target({ sessionType: 'Discovery' });
    expect(
      t.receive([
        ['MaxBurstLength', '4096'],
        ['InitialR2T', 'No'],
        ['DefaultTime2Wait', '4'],
      ]),
    ).toEqual([
      ['MaxBurstLength', 'Irrelevant'],
      ['InitialR2T', 'Irrelevant'],
      ['DefaultTime2Wait', '4'],
    ]);
    expect(t.result().maxBurstLength).toBe(262144);
  });

  it('§13.23: a TaskReporting offer must include RFC3720', () => {
    expect(target().receive([['TaskReporting', 'FastAbort,RFC3720']])).toEqual([['TaskReporting', 'RFC3720']]);
    expect(
      target({ local: { taskReporting: ['RFC3720', 'FastAbort'] } }).receive([['TaskReporting', 'FastAbort,RFC3720']]),
    ).toEqual([['TaskReporting', 'FastAbort']]);
    expectNegotiationError(() => target().receive([['TaskReporting', 'FastAbort']]), 'TaskReporting');
  });

  it('§13.24: iSCSIProtocolLevel is a Minimum', () => {
    const t = target();
    expect(t.receive([['iSCSIProtocolLevel', '2']])).toEqual([['iSCSIProtocolLevel', '1']]);
    expect(t.result().iscsiProtocolLevel).toBe(1);
  });

  it('§13.25: obsolete marker keys are answered Reject, except IFMarker/OFMarker=No (no markers either way)', () => {
    expect(
      target().receive([
        ['IFMarker', 'Yes'],
        ['OFMarker', 'No'],
        ['IFMarkInt', '2048~8192'],
        ['OFMarkInt', '2048'],
      ]),
    ).toEqual([
      ['IFMarker', 'Reject'],
      ['IFMarkInt', 'Reject'],
      ['OFMarkInt', 'Reject'],
    ]);
  });

  it('§6.2: unknown keys, X- and X# extension keys included, are answered NotUnderstood', () => {
    expect(
      target().receive([
        ['X-com.example.feature', 'Yes'],
        ['X#NodeArchitecture', 'ExampleOS/1.0'],
        ['FutureKey', '1'],
      ]),
    ).toEqual([
      ['X-com.example.feature', 'NotUnderstood'],
      ['X#NodeArchitecture', 'NotUnderstood'],
      ['FutureKey', 'NotUnderstood'],
    ]);
    expectNegotiationError(() => target().receive([['lower', 'x']]), 'lower');
  });
});

describe('checking answers to our offers (RFC 7143 §6.2, §13 result functions)', () => {
  it('§6.2.1: a list answer must be one of the offered values (tgtd answers None to CRC32C)', () => {
    expectNegotiationError(
      () => answered([['HeaderDigest', 'None']], { local: { headerDigest: ['CRC32C'] } }),
      'HeaderDigest',
    );
    expectNegotiationError(() => answered([['HeaderDigest', 'CRC32C,None']]), 'HeaderDigest');
    expect(answered([['HeaderDigest', 'CRC32C']]).result().headerDigest).toBe('CRC32C');
  });

  it('§13 Minimum: the answer cannot exceed the offer; Maximum: cannot be lower', () => {
    expectNegotiationError(() => answered([['MaxBurstLength', '262145']]), 'MaxBurstLength');
    const r = answered([
      ['MaxBurstLength', '4096'],
      ['FirstBurstLength', '1024'],
    ]).result();
    expect([r.maxBurstLength, r.firstBurstLength]).toEqual([4096, 1024]);
    expectNegotiationError(
      () => answered([['DefaultTime2Wait', '1']], { local: { defaultTime2Wait: 2 } }),
      'DefaultTime2Wait',
    );
    expect(answered([['DefaultTime2Wait', '30']]).result().defaultTime2Wait).toBe(30);
  });

  it('§13 AND / OR: ImmediateData=No cannot become Yes; InitialR2T=Yes cannot become No', () => {
    expectNegotiationError(
      () => answered([['ImmediateData', 'Yes']], { local: { immediateData: false } }),
      'ImmediateData',
    );
    expectNegotiationError(() => answered([['InitialR2T', 'No']], { local: { initialR2T: true } }), 'InitialR2T');
    expect(answered([['InitialR2T', 'Yes']]).result().initialR2T).toBe(true);
  });

  it('an answer outside the key range is a NegotiationError', () => {
    expectNegotiationError(() => answered([['MaxBurstLength', '511']]), 'MaxBurstLength');
    expectNegotiationError(() => answered([['ErrorRecoveryLevel', '3']]), 'ErrorRecoveryLevel');
  });

  it('§6.2: Reject keeps the default when our offer allows it, and fails when it does not', () => {
    const r = answered([
      ['HeaderDigest', 'Reject'],
      ['MaxBurstLength', 'Reject'],
    ]).result();
    expect([r.headerDigest, r.maxBurstLength]).toEqual(['None', 262144]);
    expectNegotiationError(
      () => answered([['HeaderDigest', 'Reject']], { local: { headerDigest: ['CRC32C'] } }),
      'HeaderDigest',
    );
    expectNegotiationError(
      () => answered([['MaxBurstLength', 'Reject']], { local: { maxBurstLength: 65536 } }),
      'MaxBurstLength',
    );
  });

  it('§6.2: RFC 7143 keys must not be answered NotUnderstood; TaskReporting (newer than RFC 3720) may', () => {
    expectNegotiationError(() => answered([['MaxConnections', 'NotUnderstood']]), 'MaxConnections');
    const n = answered([['TaskReporting', 'NotUnderstood']], { local: { taskReporting: ['FastAbort', 'RFC3720'] } });
    expect(n.result().taskReporting).toBe('RFC3720');
  });

  it('§13.14: FirstBurstLength=Irrelevant is fine when InitialR2T=Yes and ImmediateData=No', () => {
    const n = answered(
      [
        ['InitialR2T', 'Yes'],
        ['ImmediateData', 'No'],
        ['FirstBurstLength', 'Irrelevant'],
      ],
      { local: { firstBurstLength: 4096 } },
    );
    expect(n.result().firstBurstLength).toBe(65536);
  });

  it('Irrelevant for a key that matters leaves a default our offer must allow', () => {
    expect(answered([['MaxConnections', 'Irrelevant']]).result().maxConnections).toBe(1);
    const n = answered([['MaxBurstLength', 'Irrelevant']], { local: { maxBurstLength: 65536 } });
    expectNegotiationError(() => n.result(), 'MaxBurstLength');
    const m = answered([['DefaultTime2Retain', 'Irrelevant']], { local: { defaultTime2Retain: 0 } });
    expectNegotiationError(() => m.result(), 'DefaultTime2Retain');
  });

  it('§13: in a discovery session any key may be answered Irrelevant', () => {
    const n = answered(
      [
        ['DefaultTime2Retain', 'Irrelevant'],
        ['ErrorRecoveryLevel', 'Irrelevant'],
      ],
      { sessionType: 'Discovery', local: { defaultTime2Retain: 0 } },
    );
    expect(n.result().defaultTime2Retain).toBe(20);
  });

  it('pending() lists offers without an answer, except those whose answer is optional (§6.2.2)', () => {
    const n = initiator({
      local: { initialR2T: true, immediateData: false },
      offerKeys: ['InitialR2T', 'ImmediateData', 'MaxRecvDataSegmentLength', 'MaxBurstLength'],
    });
    n.offers();
    expect(n.pending()).not.toContain('InitialR2T');
    expect(n.pending()).not.toContain('ImmediateData');
    expect(n.pending()).not.toContain('MaxRecvDataSegmentLength');
    expect(n.pending()).toContain('MaxBurstLength');
    n.receive([['MaxBurstLength', '8192']]);
    expect(n.pending()).not.toContain('MaxBurstLength');
    const r = n.result();
    expect([r.initialR2T, r.immediateData, r.maxBurstLength]).toEqual([true, false, 8192]);
  });

  it('an unanswered offer counts as not negotiated, and fails when the default breaks it', () => {
    const n = initiator({ local: { headerDigest: ['CRC32C'] } });
    n.offers();
    expectNegotiationError(() => n.result(), 'HeaderDigest');
  });
});

describe('declarations (RFC 7143 §13.6, §13.9, §13.12)', () => {
  it('§13.12: the peer MaxRecvDataSegmentLength is what we may send; 8192 when it declares none', () => {
    const n = answered([['MaxRecvDataSegmentLength', '65536']]);
    expect(n.result().maxXmitDataSegmentLength).toBe(65536);
    expect(n.result().maxRecvDataSegmentLength).toBe(262144);
    expect(answered([]).result().maxXmitDataSegmentLength).toBe(8192);
    // Without a declaration of ours the peer must assume 8192.
    const t = target();
    t.receive([['MaxRecvDataSegmentLength', '131072']]);
    expect(t.result().maxRecvDataSegmentLength).toBe(8192);
    expect(t.result().maxXmitDataSegmentLength).toBe(131072);
  });

  it('§13.12: a declaration outside 512..2^24-1 or with a reserved value is a NegotiationError', () => {
    expectNegotiationError(() => answered([['MaxRecvDataSegmentLength', '511']]), 'MaxRecvDataSegmentLength');
    expectNegotiationError(() => answered([['MaxRecvDataSegmentLength', '16777216']]), 'MaxRecvDataSegmentLength');
    expectNegotiationError(() => answered([['MaxRecvDataSegmentLength', 'Reject']]), 'MaxRecvDataSegmentLength');
  });

  it('§13.6, §13.9: TargetAlias and TargetPortalGroupTag are recorded (TPGT as decimal, hex or base64)', () => {
    const r = answered([
      ['TargetAlias', 'disk one'],
      ['TargetPortalGroupTag', '1'],
    ]).result();
    expect([r.targetAlias, r.targetPortalGroupTag]).toEqual(['disk one', 1]);
    expect(answered([['TargetPortalGroupTag', '0x0102']]).result().targetPortalGroupTag).toBe(258);
    expect(answered([['TargetPortalGroupTag', '0bAQI=']]).result().targetPortalGroupTag).toBe(258);
    expectNegotiationError(() => answered([['TargetPortalGroupTag', '65536']]), 'TargetPortalGroupTag');
    expect('targetAlias' in answered([]).result()).toBe(false);
  });

  it('§13.7: a target records InitiatorAlias', () => {
    const t = target();
    t.receive([['InitiatorAlias', 'host-a']], 'security');
    expect(t.result().initiatorAlias).toBe('host-a');
  });
});

describe('§6.3 and §13: duplicates, senders, stages', () => {
  it('§6.3: a key received twice in one negotiation is a NegotiationError, and the negotiator then fails', () => {
    const n = initiator();
    n.offers();
    expectNegotiationError(
      () =>
        n.receive([
          ['MaxBurstLength', '4096'],
          ['MaxBurstLength', '4096'],
        ]),
      'MaxBurstLength',
    );
    expect(() => n.result()).toThrow(NegotiationError);
    const t = target();
    t.receive([['InitialR2T', 'No']]);
    expectNegotiationError(() => t.receive([['InitialR2T', 'No']]), 'InitialR2T');
    const u = target();
    u.receive([['X-com.example.k', '1']]);
    expectNegotiationError(() => u.receive([['X-com.example.k', '1']]), 'X-com.example.k');
  });

  it('§13 senders: each side may send only its own keys', () => {
    expectNegotiationError(() => initiator().receive([['InitiatorName', 'iqn.2024-01.x:y']]), 'InitiatorName');
    expectNegotiationError(() => initiator().receive([['SessionType', 'Normal']]), 'SessionType');
    expectNegotiationError(() => target().receive([['TargetAlias', 'x']]), 'TargetAlias');
    expectNegotiationError(() => target().receive([['TargetPortalGroupTag', '1']]), 'TargetPortalGroupTag');
    // §13.4: during login only the initiator names the target.
    expectNegotiationError(() => initiator().receive([['TargetName', 'iqn.2024-01.x:t']]), 'TargetName');
  });

  it('§13 Any-Stage: identity and alias keys are accepted in the security stage, operational keys are not', () => {
    const t = target();
    expect(
      t.receive(
        [
          ['InitiatorName', 'iqn.2024-01.x:i'],
          ['SessionType', 'Normal'],
          ['TargetName', 'iqn.2024-01.x:t'],
          ['AuthMethod', 'CHAP,None'],
          ['CHAP_A', '5'],
        ],
        'security',
      ),
    ).toEqual([]);
    expectNegotiationError(() => target().receive([['MaxBurstLength', '4096']], 'security'), 'MaxBurstLength');
    expectNegotiationError(
      () => target().receive([['MaxRecvDataSegmentLength', '8192']], 'security'),
      'MaxRecvDataSegmentLength',
    );
  });

  it('§12: AuthMethod and CHAP keys outside the security stage are a NegotiationError', () => {
    expectNegotiationError(() => target().receive([['AuthMethod', 'None']]), 'AuthMethod');
    expectNegotiationError(() => initiator().receive([['CHAP_C', '0x0102']]), 'CHAP_C');
  });

  it('§13 FFPO / LO / IO: SendTargets only in the Full Feature Phase, LO and IO keys only at login', () => {
    expectNegotiationError(() => target().receive([['SendTargets', 'All']]), 'SendTargets');
    expect(target({ stage: 'full-feature' }).receive([['SendTargets', 'All']])).toEqual([]);
    expectNegotiationError(
      () => target({ stage: 'full-feature' }).receive([['MaxBurstLength', '4096']]),
      'MaxBurstLength',
    );
    expectNegotiationError(() => target({ stage: 'full-feature' }).receive([['HeaderDigest', 'None']]), 'HeaderDigest');
    expectNegotiationError(
      () => initiator({ stage: 'full-feature' }).receive([['TargetPortalGroupTag', '1']]),
      'TargetPortalGroupTag',
    );
  });

  it('§13 LO: a leading-only key on another connection is a NegotiationError', () => {
    expectNegotiationError(
      () => target({ leadingConnection: false }).receive([['MaxConnections', '2']]),
      'MaxConnections',
    );
    expect(target({ leadingConnection: false }).receive([['DataDigest', 'CRC32C']])).toEqual([
      ['DataDigest', 'CRC32C'],
    ]);
  });

  it('§6.3, §13.3: SendTargets responses may repeat TargetName and TargetAddress in the Full Feature Phase', () => {
    const n = initiator({ stage: 'full-feature' });
    expect(
      n.receive([
        ['TargetName', 'iqn.2024-01.x:a'],
        ['TargetAddress', '127.0.0.1:3261,1'],
        ['TargetName', 'iqn.2024-01.x:b'],
        ['TargetAddress', '[::1]:3261,1'],
      ]),
    ).toEqual([]);
  });

  it('§13.21: a SessionType other than the one being negotiated is a NegotiationError', () => {
    expectNegotiationError(() => target().receive([['SessionType', 'Discovery']], 'security'), 'SessionType');
  });
});

describe('result()', () => {
  it('is frozen and holds the §13 defaults for what was never negotiated', () => {
    const r = initiator().result();
    expect(Object.isFrozen(r)).toBe(true);
    expect(r).toEqual(DEFAULT_PARAMETERS);
  });

  it('§13.14: FirstBurstLength must not exceed MaxBurstLength', () => {
    const t = target();
    t.receive([['MaxBurstLength', '4096']]);
    expectNegotiationError(() => t.result(), 'FirstBurstLength');
    // Moot when no unsolicited data can be sent.
    const u = target();
    u.receive([
      ['MaxBurstLength', '4096'],
      ['InitialR2T', 'Yes'],
      ['ImmediateData', 'No'],
    ]);
    expect(u.result().maxBurstLength).toBe(4096);
  });

  it('§13: a value outside its key range is refused even when it comes from base', () => {
    const bad = { ...DEFAULT_PARAMETERS, maxBurstLength: 100 };
    expectNegotiationError(() => initiator({ base: bad }).result(), 'MaxBurstLength');
    const badXmit = { ...DEFAULT_PARAMETERS, maxXmitDataSegmentLength: 2 ** 24 };
    expectNegotiationError(() => initiator({ base: badXmit }).result(), 'MaxRecvDataSegmentLength');
  });

  it('base: a Full Feature Phase renegotiation starts from the login result', () => {
    const login: NegotiatedParameters = { ...DEFAULT_PARAMETERS, maxBurstLength: 65536, headerDigest: 'CRC32C' };
    const n = initiator({ stage: 'full-feature', base: login, local: { maxRecvDataSegmentLength: 1 << 20 } });
    expect(n.offers()).toEqual([['MaxRecvDataSegmentLength', '1048576']]);
    n.receive([['MaxRecvDataSegmentLength', '32768']]);
    const r = n.result();
    expect([r.maxBurstLength, r.headerDigest, r.maxRecvDataSegmentLength, r.maxXmitDataSegmentLength]).toEqual([
      65536,
      'CRC32C',
      1 << 20,
      32768,
    ]);
  });
});

describe('local values', () => {
  it('are checked against the key table', () => {
    const bad: Partial<NegotiatorOptions['local'] & object>[] = [
      { headerDigest: [] },
      { headerDigest: ['CRC32C', 'CRC32C'] },
      { dataDigest: ['MD5' as 'None'] },
      { maxBurstLength: 511 },
      { maxRecvDataSegmentLength: 2 ** 24 },
      { errorRecoveryLevel: 3 },
      { defaultTime2Wait: 1.5 },
      { firstBurstLength: 262144, maxBurstLength: 65536 },
      { taskReporting: ['FastAbort'] },
      { initialR2T: 'Yes' as unknown as boolean },
    ];
    for (const local of bad) expect(() => initiator({ local }), JSON.stringify(local)).toThrow(InvalidArgumentError);
    expect(() => new Negotiator({ role: 'peer' as 'target', sessionType: 'Normal' })).toThrow(InvalidArgumentError);
  });

  it('default to DEFAULT_LOCAL_OFFER', () => {
    expect(DEFAULT_LOCAL_OFFER.initialR2T).toBe(false);
    expect(Object.isFrozen(DEFAULT_LOCAL_OFFER)).toBe(true);
  });
});

// /work/shared/reference/peers-tgtd.md §2: tgtd 1.0.85's Login Response keys for a normal session.
const TGTD_RESPONSE: TextPair[] = [
  ['TargetPortalGroupTag', '1'],
  ['HeaderDigest', 'None'],
  ['DataDigest', 'None'],
  ['InitialR2T', 'Yes'],
  ['ImmediateData', 'Yes'],
  ['MaxBurstLength', '262144'],
  ['FirstBurstLength', '65536'],
  ['DefaultTime2Wait', '2'],
  ['DefaultTime2Retain', '0'],
  ['MaxOutstandingR2T', '1'],
  ['ErrorRecoveryLevel', '0'],
  ['IFMarker', 'No'],
  ['OFMarker', 'No'],
  ['MaxConnections', '1'],
  ['DataPDUInOrder', 'Yes'],
  ['DataSequenceInOrder', 'Yes'],
];

describe('regression: tgtd 1.0.85 login response', () => {
  it('libiscsi default offers + tgtd answers give a sensible result', () => {
    const n = initiator({
      local: {
        headerDigest: ['None', 'CRC32C'],
        dataDigest: ['None'],
        initialR2T: false,
        immediateData: true,
        maxBurstLength: 262144,
        firstBurstLength: 262144,
        maxRecvDataSegmentLength: 262144,
        maxOutstandingR2T: 1,
        errorRecoveryLevel: 0,
        maxConnections: 1,
      },
      offerKeys: [
        'HeaderDigest',
        'DataDigest',
        'InitialR2T',
        'ImmediateData',
        'MaxBurstLength',
        'FirstBurstLength',
        'MaxRecvDataSegmentLength',
        'MaxOutstandingR2T',
        'ErrorRecoveryLevel',
        'MaxConnections',
      ],
    });
    expect(n.offers()).toHaveLength(10);
    // tgtd also offers DefaultTime2Wait/Retain (answers needed) and DataPDUInOrder/DataSequenceInOrder=Yes and
    // IFMarker/OFMarker=No (answers optional, §6.2.2).
    expect(n.receive(TGTD_RESPONSE)).toEqual([
      ['DefaultTime2Wait', '2'],
      ['DefaultTime2Retain', '0'],
    ]);
    expect(n.pending()).toEqual([]);
    expect(n.result()).toEqual({
      ...DEFAULT_PARAMETERS,
      headerDigest: 'None',
      dataDigest: 'None',
      initialR2T: true,
      immediateData: true,
      maxBurstLength: 262144,
      firstBurstLength: 65536,
      defaultTime2Wait: 2,
      defaultTime2Retain: 0,
      maxRecvDataSegmentLength: 262144,
      maxXmitDataSegmentLength: 8192,
      targetPortalGroupTag: 1,
    });
  });

  it('our default initiator offers everything, so tgtd final response needs no further answer', () => {
    const n = initiator();
    n.offers();
    expect(n.receive(TGTD_RESPONSE)).toEqual([]);
    expect(n.pending()).toEqual([]);
    const r = n.result();
    expect([r.initialR2T, r.firstBurstLength, r.maxXmitDataSegmentLength, r.targetPortalGroupTag]).toEqual([
      true,
      65536,
      8192,
      1,
    ]);
  });

  it('tgtd set to CRC32C,None answers CRC32C to None,CRC32C, which is one of our values', () => {
    const n = initiator();
    n.offers();
    n.receive(TGTD_RESPONSE.map(([k, v]): TextPair => (k === 'HeaderDigest' ? [k, 'CRC32C'] : [k, v])));
    expect(n.result().headerDigest).toBe('CRC32C');
  });
});
