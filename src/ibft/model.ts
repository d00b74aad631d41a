/**
 * The typed model of an iSCSI Boot Firmware Table (iBFT), shared by the three sources (raw ACPI table, memory
 * scan, the kernel's `/sys/firmware/ibft` tree) and the writer.
 *
 * Conventions: absent addresses and strings are `undefined` (the table's all-zero / `::ffff:0.0.0.0` addresses
 * and zero-length strings); IPv4 addresses (IPv4-mapped in the table) are dotted quads, IPv6 addresses are in
 * RFC 5952 compressed lower-case form. CHAP secrets are raw bytes: callers wrap them with `Secret.from` (src/chap)
 * before logging in, and print models only through {@link redactIbft} / {@link ibftToJson}.
 * @module
 */

/** Table signatures: `iBFT` (the usual one), `IBFT` (the ACPI-reserved spelling), `BIFT` (Broadcom offload). */
export type IbftSignature = 'iBFT' | 'IBFT' | 'BIFT';

/** NIC address origin (iBFT NIC structure byte 23; the values of the IP prefix origin in RFC 4293). */
export const IbftOrigin = {
  Other: 0,
  Manual: 1,
  WellKnown: 2,
  Dhcp: 3,
  RouterAdvertisement: 4,
  /** 16 as EDK2 and open-iscsi write it (iPXE's header says 0x0f). */
  Unchanged: 16,
} as const;

/** Target CHAP type (target structure byte 32). */
export const IbftChapType = { None: 0, OneWay: 1, Mutual: 2 } as const;

/** The initiator structure (id 2). */
export interface IbftInitiator {
  /** Flags bit 0: the block is valid. */
  readonly valid: boolean;
  /** Flags bit 1: firmware boot selected. */
  readonly bootSelected: boolean;
  /** Flag bits the specification leaves reserved (bits 2-7, shifted in place), normally 0. */
  readonly reservedFlags: number;
  /** The initiator's iSCSI name. */
  readonly name?: string | undefined;
  readonly isnsServer?: string | undefined;
  readonly slpServer?: string | undefined;
  readonly primaryRadiusServer?: string | undefined;
  readonly secondaryRadiusServer?: string | undefined;
}

/** A NIC structure (id 3). */
export interface IbftNic {
  /** The structure's index byte: the number targets refer to ({@link IbftTarget.nicIndex}), `ethernet<index>`. */
  readonly index: number;
  /** Flags bit 0: the block is valid. */
  readonly valid: boolean;
  /** Flags bit 1: firmware boot selected. */
  readonly bootSelected: boolean;
  /** Flags bit 2: the address is global (true) or link-local (false). */
  readonly global: boolean;
  /** Reserved flag bits (bits 3-7, in place), normally 0. */
  readonly reservedFlags: number;
  readonly ip?: string | undefined;
  /** Subnet mask prefix length in bits (0 = none given). */
  readonly prefixLength: number;
  /** Derived: the dotted-quad mask of {@link prefixLength} for an IPv4 (or absent) address and prefix 1..32. */
  readonly subnetMask?: string | undefined;
  /** Address origin, see {@link IbftOrigin}. */
  readonly origin: number;
  /** Derived: configured by DHCP (origin 3, or a DHCP server address given), as open-iscsi and dracut decide. */
  readonly dhcp: boolean;
  readonly gateway?: string | undefined;
  readonly primaryDns?: string | undefined;
  readonly secondaryDns?: string | undefined;
  readonly dhcpServer?: string | undefined;
  /** The raw 16-bit VLAN field (0 = none). */
  readonly vlan: number;
  /** MAC address, `aa:bb:cc:dd:ee:ff` lower case. */
  readonly mac: string;
  /**
   * PCI bus/device/function as the table stores it: (bus << 8) | (device << 3) | function. Undefined only when
   * read from sysfs and the kernel made no `device` link (no PCI device at that address).
   */
  readonly pciBdf?: number | undefined;
  /** Derived: {@link pciBdf} as a Linux PCI address in domain 0, `0000:00:03.0`. */
  readonly pciAddress?: string | undefined;
  readonly hostname?: string | undefined;
}

/** A target structure (id 4). */
export interface IbftTarget {
  /** The structure's index byte (`target<index>`). */
  readonly index: number;
  /** Flags bit 0: the block is valid. */
  readonly valid: boolean;
  /** Flags bit 1: firmware boot selected. */
  readonly bootSelected: boolean;
  /** Flags bit 2: use RADIUS for CHAP. */
  readonly radiusChap: boolean;
  /** Flags bit 3: use RADIUS for reverse CHAP. */
  readonly radiusReverseChap: boolean;
  /** Reserved flag bits (bits 4-7, in place), normally 0. */
  readonly reservedFlags: number;
  readonly ip?: string | undefined;
  readonly port: number;
  /** The 8-byte SAM LUN as a big-endian 64-bit number (LUN 1 = `0x0001000000000000n`). */
  readonly lun: bigint;
  /** Derived: the LUN number of a single-level LUN (peripheral bus 0, flat, extended flat), else undefined. */
  readonly lunNumber?: number | undefined;
  /** CHAP type, see {@link IbftChapType}. */
  readonly chapType: number;
  /** Index of the NIC used to reach the target ({@link IbftNic.index}); see {@link nicOfTarget}. */
  readonly nicIndex: number;
  /** The target's iSCSI name. */
  readonly name?: string | undefined;
  /** The initiator's CHAP user name. */
  readonly chapName?: string | undefined;
  /** The initiator's CHAP secret: wrap with `Secret.from` before use; never log. */
  readonly chapSecret?: Uint8Array | undefined;
  /** The target's CHAP user name (mutual CHAP). */
  readonly reverseChapName?: string | undefined;
  /** The target's CHAP secret (mutual CHAP): wrap with `Secret.from` before use; never log. */
  readonly reverseChapSecret?: Uint8Array | undefined;
}

/** A whole iBFT. */
export interface IbftTable {
  /** Undefined only for sysfs trees without `acpi_header` (offload HBAs' `/sys/firmware/iscsi_boot*`). */
  readonly signature?: IbftSignature | undefined;
  /** OEM ID, up to 6 bytes before the first NUL ('' when absent). */
  readonly oemId: string;
  /** OEM table ID, up to 8 bytes before the first NUL ('' when absent). */
  readonly oemTableId: string;
  /** The raw control structure flags byte (bit 0: "boot failover" in EDK2, "only the boot target" in iPXE). */
  readonly controlFlags: number;
  readonly initiator?: IbftInitiator | undefined;
  /** NICs in control-structure slot order (raw table) or index order (sysfs). */
  readonly nics: readonly IbftNic[];
  /** Targets in control-structure slot order (raw table) or index order (sysfs). */
  readonly targets: readonly IbftTarget[];
}

/** A NIC as {@link writeIbft} takes it: the derived fields may be left out (they are ignored). */
export type IbftNicSpec = Omit<IbftNic, 'subnetMask' | 'dhcp' | 'pciAddress'> &
  Partial<Pick<IbftNic, 'subnetMask' | 'dhcp' | 'pciAddress'>>;
/** A target as {@link writeIbft} takes it: the derived field may be left out (it is ignored). */
export type IbftTargetSpec = Omit<IbftTarget, 'lunNumber'> & Partial<Pick<IbftTarget, 'lunNumber'>>;
/** A table as {@link writeIbft} takes it; every {@link IbftTable} is one. */
export interface IbftTableSpec extends Omit<IbftTable, 'nics' | 'targets'> {
  readonly nics: readonly IbftNicSpec[];
  readonly targets: readonly IbftTargetSpec[];
}

/** The NIC a target says it is reached through (matched by index), or undefined. */
export function nicOfTarget(table: IbftTable, target: IbftTarget): IbftNic | undefined {
  return table.nics.find((nic) => nic.index === target.nicIndex);
}

/** Dotted-quad mask for an IPv4 prefix length 1..32, else undefined. */
export function subnetMaskOf(ip: string | undefined, prefixLength: number): string | undefined {
  if (prefixLength < 1 || prefixLength > 32 || ip?.includes(':')) return undefined;
  const mask = prefixLength === 32 ? 0xffffffff : ~(0xffffffff >>> prefixLength) >>> 0;
  return [24, 16, 8, 0].map((shift) => (mask >>> shift) & 0xff).join('.');
}

/** `0000:bb:dd.f` for a table BDF value. */
export function pciAddressOf(bdf: number | undefined): string | undefined {
  if (bdf === undefined) return undefined;
  const h = (n: number) => n.toString(16).padStart(2, '0');
  return `0000:${h(bdf >> 8)}:${h((bdf >> 3) & 0x1f)}.${bdf & 7}`;
}

/** The number of a single-level SAM LUN (SAM-5 §4.7: peripheral bus 0, flat, extended flat), else undefined. */
export function lunNumberOf(lun: bigint): number | undefined {
  const b0 = Number(lun >> 56n);
  const b1 = Number((lun >> 48n) & 0xffn);
  const rest6 = lun & 0xffff_ffff_ffffn;
  if (b0 === 0 && rest6 === 0n) return b1;
  if (b0 >> 6 === 1 && rest6 === 0n) return ((b0 & 0x3f) << 8) | b1;
  if (b0 === 0xd2 && (lun & 0xffff_ffffn) === 0n) return Number((lun >> 32n) & 0xff_ffffn);
  return undefined;
}

/** Whether a NIC counts as DHCP-configured (open-iscsi: origin 3 or a DHCP server address). */
export function isDhcpNic(origin: number, dhcpServer: string | undefined): boolean {
  return origin === IbftOrigin.Dhcp || dhcpServer !== undefined;
}

/** A JSON-safe view of an {@link IbftTable}: LUNs as 16 hex digits, secrets redacted or as text. */
export type IbftJson = Omit<IbftTable, 'targets'> & {
  readonly targets: readonly (Omit<IbftTarget, 'lun' | 'chapSecret' | 'reverseChapSecret'> & {
    readonly lun: string;
    readonly chapSecret?: string | undefined;
    readonly reverseChapSecret?: string | undefined;
  })[];
};

/** The placeholder {@link ibftToJson} puts where a secret was. */
export const REDACTED = '[redacted]';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A JSON-safe copy of a table (`JSON.stringify` works on it): the LUN as 16 hex digits in wire order, CHAP
 * secrets replaced by {@link REDACTED} unless `showSecrets` (then as UTF-8 text, or `0x…` hex when not UTF-8).
 */
export function ibftToJson(table: IbftTable, options: { readonly showSecrets?: boolean } = {}): IbftJson {
  const secret = (bytes: Uint8Array | undefined): string | undefined => {
    if (bytes === undefined) return undefined;
    if (options.showSecrets !== true) return REDACTED;
    try {
      return utf8.decode(bytes);
    } catch {
      return `0x${Buffer.from(bytes).toString('hex')}`;
    }
  };
  return {
    ...table,
    targets: table.targets.map((t) => ({
      ...t,
      lun: t.lun.toString(16).padStart(16, '0'),
      chapSecret: secret(t.chapSecret),
      reverseChapSecret: secret(t.reverseChapSecret),
    })),
  };
}

/** {@link ibftToJson} with secrets redacted: what to log or print by default. */
export function redactIbft(table: IbftTable): IbftJson {
  return ibftToJson(table);
}
