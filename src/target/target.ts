/**
 * The embedded iSCSI target: {@link createTarget} listens on portals, logs initiators in with the same login,
 * CHAP and negotiation code as the initiator uses (from the target's side), and serves LUNs backed by memory or
 * files through a SCSI device server. It keeps the session table (TSIH allocation, session reinstatement, limits)
 * and stops gracefully: an Asynchronous Message asks every initiator to log out, then the connections close.
 * @module
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { ChallengeLog } from '../chap/chap.js';
import { ErrorCode, InvalidArgumentError, IscsiError } from '../errors.js';
import type { TextPair } from '../pdu/text.js';
import { DEFAULT_ISCSI_PORT } from '../session/address.js';
import { type Logger, silentLogger } from '../session/events.js';
import { FileBackend } from './backend/file.js';
import { MemoryBackend } from './backend/memory.js';
import type { BlockBackend } from './backend/types.js';
import type { LunConfig, PortalConfig, TargetDefinition, TargetServerConfig } from './config.js';
import { type ConnectionHost, TargetConnection } from './connection.js';
import { emitTarget, type TargetEvent } from './events.js';
import type { TargetAuth, TargetConfig, TargetLoginOptions, TargetLoginResult } from './login-types.js';
import { BLOCK_COMMANDS } from './scsi/block-commands.js';
import { DeviceServer } from './scsi/device-server.js';
import { LogicalUnit } from './scsi/logical-unit.js';
import { SPC_COMMANDS } from './scsi/spc-commands.js';
import type { Nexus } from './scsi/types.js';
import { type ResetRequest, TargetSession } from './session.js';

/** A portal the target listens on, with the port it got. */
export interface ListeningPortal {
  readonly host: string;
  readonly port: number;
  readonly tpgt: number;
}

/** One served target at run time. */
interface ServedTarget {
  readonly definition: TargetDefinition;
  readonly server: DeviceServer;
  readonly backends: readonly BlockBackend[];
  readonly login: TargetConfig;
}

const DEFAULT_MAX_TRANSFER = 8 * 1024 * 1024;

/** The commands of a disk: SPC-4 and SBC-3. */
const DISK_COMMANDS = [...SPC_COMMANDS, ...BLOCK_COMMANDS];

/**
 * An embedded iSCSI target. Events (`'event'`, with a {@link TargetEvent}) mirror what goes to the logger.
 */
export class IscsiTarget extends EventEmitter<{ event: [TargetEvent] }> {
  readonly #config: TargetServerConfig;
  readonly #logger: Logger;
  readonly #servers: Server[] = [];
  readonly #portals: ListeningPortal[] = [];
  readonly #targets = new Map<string, ServedTarget>();
  readonly #connections = new Set<TargetConnection>();
  readonly #sessions = new Map<number, TargetSession>();
  /** The session of each I_T nexus (initiator name, ISID, target) for reinstatement (RFC 7143 §6.3.5). */
  readonly #byNexus = new Map<string, TargetSession>();
  readonly #connectionOf = new Map<TargetSession, TargetConnection>();
  readonly #challengeLog = new ChallengeLog();
  #nextTsih = 0;
  /** TEST ONLY: a planted wedge was hit ({@link TargetFaults.wedgeOnOpcode}). */
  #wedged = false;
  #state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';

  constructor(config: TargetServerConfig) {
    super();
    if (config.portals.length === 0) throw new InvalidArgumentError('a target needs at least one portal');
    const names = new Set<string>();
    for (const t of config.targets) {
      if (names.has(t.name)) throw new InvalidArgumentError(`target ${t.name} is defined twice`);
      names.add(t.name);
    }
    this.#config = config;
    const base = config.logger ?? silentLogger;
    // Every event goes to the logger and to 'event' listeners.
    const tee =
      (level: keyof Logger) =>
      (obj: object, msg?: string): void => {
        base[level](obj, msg);
        this.emit('event', obj as TargetEvent);
      };
    this.#logger = { debug: tee('debug'), info: tee('info'), warn: tee('warn'), error: tee('error') };
  }

  /** The portals listened on, with their ports (after {@link IscsiTarget.start}). */
  get portals(): readonly ListeningPortal[] {
    return this.#portals;
  }

  /** Sessions in the Full Feature Phase. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** An `iscsi://` URL for a target and LUN on the first portal (or `portal`). */
  url(
    targetName: string = this.#config.targets[0]?.name ?? '',
    lun = 0,
    portal: ListeningPortal | undefined = this.#portals[0],
  ): string {
    if (!portal) throw new InvalidArgumentError('the target is not started');
    const host = portal.host === '0.0.0.0' ? '127.0.0.1' : portal.host === '::' ? '::1' : portal.host;
    return `iscsi://${host.includes(':') ? `[${host}]` : host}:${portal.port}/${targetName}/${lun}`;
  }

  /** Opens the LUNs' storage and starts listening. */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new InvalidArgumentError('start() may be called once');
    this.#state = 'running';
    try {
      for (const definition of this.#config.targets) this.#targets.set(definition.name, await this.#serve(definition));
      for (const portal of this.#config.portals) await this.#listen(portalConfig(portal));
    } catch (err) {
      await this.#release();
      this.#state = 'stopped';
      throw err;
    }
  }

  /**
   * Stops the target: every session is asked to log out (§11.9.1 AsyncEvent 1, Parameter3 = the seconds left),
   * connections still open after `graceMs` (default 2000) are dropped, then the storage is closed.
   */
  async stop(options: { readonly graceMs?: number } = {}): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'stopping') return;
    this.#state = 'stopping';
    const graceMs = options.graceMs ?? 2000;
    for (const server of this.#servers) server.close();
    const sessions = [...this.#sessions.values()];
    for (const session of sessions) session.requestLogout(Math.max(1, Math.ceil(graceMs / 1000)));
    const deadline = Date.now() + graceMs;
    while (this.#sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const loggedOut = sessions.filter((s) => s.closed).length;
    for (const c of this.#connections) c.destroy('target stopping');
    await this.#release();
    this.#state = 'stopped';
    emitTarget(this.#logger, 'info', { event: 'stop', sessions: sessions.length, loggedOut }, 'target stopped');
  }

  async #release(): Promise<void> {
    await Promise.all(this.#servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    for (const t of this.#targets.values()) await Promise.all(t.backends.map((b) => b.close()));
  }

  async #serve(definition: TargetDefinition): Promise<ServedTarget> {
    const units: LogicalUnit[] = [];
    const backends: BlockBackend[] = [];
    const maxTransfer = this.#config.maxTransferLength ?? DEFAULT_MAX_TRANSFER;
    try {
      for (const [index, lun] of definition.luns.entries()) {
        const backend = await openStorage(lun);
        backends.push(backend);
        units.push(logicalUnit(definition.name, lun, lun.lun ?? index, backend, maxTransfer));
      }
    } catch (err) {
      await Promise.all(backends.map((b) => b.close()));
      throw err;
    }
    const allow = definition.allow;
    const login: TargetConfig = {
      ...(definition.alias !== undefined ? { alias: definition.alias } : {}),
      ...(definition.auth !== undefined ? { auth: this.#withLog(definition.auth) } : {}),
      ...(definition.redirect ? { redirect: definition.redirect } : {}),
      ...(allow ? { allow: typeof allow === 'function' ? allow : (name: string) => allow.includes(name) } : {}),
    };
    return { definition, server: new DeviceServer({ units }), backends, login };
  }

  /** CHAP with the target-wide challenge log: a challenge coming back on another connection is a reflection (§9.2.1). */
  #withLog<T extends TargetAuth | false>(auth: T): T {
    return auth ? { ...auth, challengeLog: auth.challengeLog ?? this.#challengeLog } : auth;
  }

  async #listen(portal: Required<PortalConfig>): Promise<void> {
    const host = this.#connectionHost(portal.tpgt);
    const server = createServer((socket) => this.#accept(socket, host));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: portal.host, port: portal.port, ipv6Only: portal.host.includes(':') }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) =>
      emitTarget(
        this.#logger,
        'error',
        { event: 'protocol-error', remote: '', action: 'ignore', code: 'ERR_ISCSI_CONNECTION', message: err.message },
        'listener error',
      ),
    );
    this.#servers.push(server);
    const port = (server.address() as { port: number }).port;
    this.#portals.push({ host: portal.host, port, tpgt: portal.tpgt });
    emitTarget(
      this.#logger,
      'info',
      {
        event: 'listen',
        portal: `${portal.host.includes(':') ? `[${portal.host}]` : portal.host}:${port}`,
        tpgt: portal.tpgt,
      },
      'listening',
    );
  }

  #accept(socket: Socket, host: ConnectionHost): void {
    if (this.#state !== 'running' || this.#connections.size >= (this.#config.maxConnections ?? 256)) {
      socket.destroy();
      return;
    }
    socket.on('error', () => {});
    const connection = new TargetConnection(socket, host);
    this.#connections.add(connection);
    socket.once('close', () => this.#connections.delete(connection));
  }

  /** Login options and the session factory of one portal group. */
  #connectionHost(tpgt: number): ConnectionHost {
    const loginOptions: TargetLoginOptions = {
      portalGroupTag: tpgt,
      targets: (name) => {
        const t = this.#targets.get(name);
        const groups = t?.definition.portalGroups;
        return t && (!groups || groups.includes(tpgt)) ? t.login : undefined;
      },
      ...(this.#config.auth ? { auth: this.#withLog(this.#config.auth) } : {}),
      ...(this.#config.discovery !== undefined ? { discovery: this.#config.discovery } : {}),
      // FirstBurstLength 256 KiB by default: libiscsi, qemu and Linux offer it, and a 256 KiB write then needs no
      // R2T round trip (4x the IOPS of 64 KiB in bench:target).
      offer: {
        firstBurstLength: Math.min(262144, this.#config.offer?.maxBurstLength ?? 262144),
        ...this.#config.offer,
      },
      commandWindow: this.#config.commandWindow ?? 128,
      tsih: () => this.#allocateTsih(),
      // Only new sessions (TSIH 0) are accepted: with MaxConnections=1 and ErrorRecoveryLevel 0 there is no
      // connection to add, and an initiator recovers by reinstating the session (§6.3.5).
      sessionExists: () => false,
    };
    return {
      loginOptions,
      loginTimeoutMs: this.#config.loginTimeoutMs ?? 15_000,
      logger: this.#logger,
      trace: this.#config.trace,
      openSession: (result, connection) => this.#openSession(result, connection, tpgt),
      // TEST ONLY: planted bugs; a crash stops listening and drops every connection, as a dead process would.
      ...(this.#config.faults
        ? {
            faults: this.#config.faults,
            wedge: (set: boolean) => {
              this.#wedged ||= set;
              return this.#wedged;
            },
            crash: () => {
              for (const server of this.#servers) server.close();
              for (const c of this.#connections) c.destroy('planted crash');
            },
          }
        : {}),
    };
  }

  #allocateTsih(): number | undefined {
    if (this.#sessions.size >= (this.#config.maxSessions ?? 64)) return undefined;
    // TSIH 0 is reserved (§11.13); skip numbers still in use after a wrap.
    for (let i = 0; i < 0xffff; i++) {
      this.#nextTsih = (this.#nextTsih % 0xffff) + 1;
      if (!this.#sessions.has(this.#nextTsih)) return this.#nextTsih;
    }
    return undefined;
  }

  #openSession(result: TargetLoginResult, connection: TargetConnection, tpgt: number): TargetSession | undefined {
    if (this.#state !== 'running') return undefined;
    const served = result.targetName === undefined ? undefined : this.#targets.get(result.targetName);
    const key = `${result.initiatorName}\u0000${result.isid}\u0000${result.targetName ?? ''}`;
    // §6.3.5: a new session with the ISID of an existing one (same initiator and target) replaces it.
    const old = result.sessionType === 'Normal' ? this.#byNexus.get(key) : undefined;
    if (old) this.#connectionOf.get(old)?.destroy('session reinstated');
    const nexus: Nexus | undefined = served && {
      initiatorPort: `${result.initiatorName},i,0x${result.isid.toString(16).padStart(12, '0')}`,
      initiatorName: result.initiatorName,
      isid: result.isid,
      relativeTargetPort: Math.max(1, tpgt),
    };
    const session = new TargetSession({
      login: result,
      server: served?.server,
      nexus,
      send: (pdus) => connection.send(pdus),
      close: (reason) => connection.close(reason),
      sendTargets: (value) => this.#sendTargets(value, connection),
      commandWindow: this.#config.commandWindow ?? 128,
      maxTransferLength: this.#config.maxTransferLength ?? DEFAULT_MAX_TRANSFER,
      nopIntervalMs: this.#config.nopIntervalMs ?? 0,
      nopTimeoutMs: this.#config.nopTimeoutMs ?? 10_000,
      onReset: (reset, from) => this.#reset(reset, from),
      logger: this.#logger,
      remote: connection.remote,
      onClose: () => {
        this.#sessions.delete(result.tsih);
        if (this.#byNexus.get(key) === session) this.#byNexus.delete(key);
        this.#connectionOf.delete(session);
      },
    });
    this.#sessions.set(result.tsih, session);
    this.#connectionOf.set(session, connection);
    if (result.sessionType === 'Normal') this.#byNexus.set(key, session);
    emitTarget(
      this.#logger,
      'info',
      {
        event: 'login',
        remote: connection.remote,
        initiator: result.initiatorName,
        target: result.targetName,
        sessionType: result.sessionType,
        tsih: result.tsih,
        chapAlgorithm: result.chap?.algorithm,
        mutual: result.chap?.mutual ?? false,
        reinstated: old !== undefined,
      },
      'login',
    );
    return session;
  }

  /** LUN and target resets reach every session of the target (SAM-5 §7.7, §7.9). */
  #reset(reset: ResetRequest, from: TargetSession): void {
    for (const session of this.#sessions.values()) {
      if (session === from || session.login.targetName !== from.login.targetName) continue;
      session.abortTasks(reset.lun);
      if (reset.cold) this.#connectionOf.get(session)?.close('target cold reset');
    }
  }

  /** The SendTargets answer (§12.3, Appendix C): each target with a TargetAddress per portal serving it. */
  #sendTargets(value: string, connection: TargetConnection): TextPair[] {
    const out: TextPair[] = [];
    for (const [name, t] of this.#targets) {
      if (value !== 'All' && value !== name) continue;
      const groups = t.definition.portalGroups;
      out.push(['TargetName', name]);
      for (const p of this.#portals) {
        if (groups && !groups.includes(p.tpgt)) continue;
        // A wildcard portal is reported with the address the initiator reached.
        const host = p.host === '0.0.0.0' || p.host === '::' ? connection.localAddress : p.host;
        out.push(['TargetAddress', `${host.includes(':') ? `[${host}]` : host}:${p.port},${p.tpgt}`]);
      }
    }
    return out;
  }
}

/** Creates an embedded target; call `start()` to listen. */
export function createTarget(config: TargetServerConfig): IscsiTarget {
  return new IscsiTarget(config);
}

function portalConfig(p: string | PortalConfig): Required<PortalConfig> {
  if (typeof p === 'string') {
    // `host`, `host:port`, `[v6]`, `[v6]:port`; port 0 picks a free one, no port means 3260 (the IANA-assigned iSCSI port).
    const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(p) ?? /^([^:]+)(?::(\d+))?$/.exec(p);
    if (!m) throw new InvalidArgumentError(`portal ${JSON.stringify(p)} is not host[:port] or [ipv6][:port]`);
    const port = m[2] === undefined ? DEFAULT_ISCSI_PORT : Number(m[2]);
    if (port > 0xffff) throw new InvalidArgumentError(`portal ${p}: port out of range`);
    return { host: m[1]!, port, tpgt: 1 };
  }
  const tpgt = p.tpgt ?? 1;
  if (!Number.isInteger(tpgt) || tpgt < 1 || tpgt > 0xffff)
    throw new InvalidArgumentError(`tpgt ${tpgt} out of range 1..65535`);
  return { host: p.host, port: p.port ?? 0, tpgt };
}

async function openStorage(lun: LunConfig): Promise<BlockBackend> {
  const s = lun.storage;
  switch (s.type) {
    case 'memory':
      return new MemoryBackend({ size: s.size, ...(lun.readOnly ? { readOnly: true } : {}) });
    case 'file':
      return FileBackend.open(s.path, {
        ...(s.readOnly || lun.readOnly ? { readOnly: true } : {}),
        ...(s.size !== undefined ? { size: s.size, create: true } : {}),
      });
    case 'backend':
      return s.backend;
  }
}

function logicalUnit(
  target: string,
  config: LunConfig,
  lun: number,
  backend: BlockBackend,
  maxTransfer: number,
): LogicalUnit {
  const blockSize = config.blockSize ?? 512;
  if (backend.size % blockSize !== 0) {
    throw new IscsiError(
      ErrorCode.InvalidArgument,
      `LUN ${lun}: size ${backend.size} is not a multiple of the block size ${blockSize}`,
    );
  }
  // A stable identity: the same target name and LUN give the same serial and NAA after a restart.
  const digest = createHash('sha256').update(`${target}\u0000${lun}`).digest();
  const serial = config.serial ?? digest.subarray(0, 8).toString('hex');
  // NAA 3 (locally assigned, SPC-4 §7.8.6.6.2): 4 bits of type, 60 bits from the digest.
  const naa = (3n << 60n) | (digest.readBigUInt64BE(8) & ((1n << 60n) - 1n));
  return new LogicalUnit({
    lun,
    backend,
    blockSize,
    readOnly: config.readOnly ?? false,
    identity: {
      vendor: config.vendor ?? 'ISCSI-TS',
      product: config.product ?? 'VIRTUAL-DISK',
      revision: '0001',
      serial,
      naa,
      targetName: target,
    },
    limits: {
      maxTransferBlocks: Math.floor(maxTransfer / blockSize),
      optimalTransferBlocks: Math.max(1, Math.floor(262144 / blockSize)),
      // 1 Mi blocks: what libiscsi's BlockLimits test takes as a sane bound.
      maxUnmapBlocks: 0x100000,
      maxUnmapDescriptors: 256,
      maxWriteSameBlocks: Math.floor(maxTransfer / blockSize),
      maxCompareAndWriteBlocks: 64,
    },
    commands: DISK_COMMANDS,
  });
}
