import { BehaviorSubject, type Observable } from 'rxjs';
import { PAGE_SIZE, windowLayout, type PageGranule, type WindowRole } from '@sivshm/abi';
import { TransportError } from '../errors/transport-error.js';
import { HeartbeatTimer } from '../notify/heartbeat-timer.js';
import { LivenessWatchdog } from '../notify/liveness-watchdog.js';
import { RingWaiter, type NotifyMode } from '../notify/ring-waiter.js';
import { HeldWaker } from '../notify/held-waker.js';
import type { Waker } from '../notify/waker.js';
import { RingConsumer, RingRecord } from '../ring/ring-consumer.js';
import { RingProducer, type RingSlot } from '../ring/ring-producer.js';
import { ringViews, type WindowMemory } from '../ring/ring-views.js';
import type { SomeIpHeader } from '../ring/someip-header.js';
import { defaultRecordCrypto } from '../protect/default-record-crypto.js';
import type { ProtectedMode, RecordCryptoBackend } from '../protect/record-crypto.js';
import { RecordOpener } from '../protect/record-opener.js';
import { RecordSealer } from '../protect/record-sealer.js';
import { SealedSender } from '../protect/sealed-sender.js';
import { ChannelMove, successorToFollow } from './channel-move.js';
import { TurnYield } from './turn-yield.js';

/**
 * Records dispatched in one turn of the receive loop before it yields to the event loop. A peer
 * that keeps the ring full must not starve this process's timers (its heartbeat, call
 * deadlines) or its other channels: after this many records the loop lets them run, then goes on.
 */
export const RECORDS_PER_TURN = 256;

/**
 * Record protection of a `mac`/`aead` channel: its mode, id and the per-direction keys the
 * handshake derived. The channel copies the keys and zeroes its copies when it ends.
 */
export interface ChannelProtection {
  readonly mode: ProtectedMode;
  readonly channelId: bigint;
  readonly keys: { readonly c2p: Uint8Array; readonly p2c: Uint8Array };
  /** Crypto implementation; default the native addon's, else `node:crypto`. */
  readonly crypto?: RecordCryptoBackend;
  /**
   * @internal Test hook: both directions start as if this many records had been sealed and
   * accepted (sequence exhaustion without sending 2^53 records).
   */
  readonly startAfterForTest?: number;
}

/** The send lanes a channel uses: the ring's own, or the sealing ones of a protected channel. */
type RecordSender = Pick<
  RingProducer,
  'loan' | 'send' | 'abandon' | 'sendCopy' | 'sendCopyWait' | 'maxPayload'
>;

/** Where a channel is in its life, as its owner sees it. */
export type ChannelState = 'open' | 'peer-gone' | 'failed' | 'closed';

export interface ChannelOptions {
  /** The granted window (from `DeviceFile.mapWindow`). */
  readonly window: WindowMemory;
  /** Which side this process is: the consumer sends c2p and receives p2c. */
  readonly role: WindowRole;
  /** How the receive loop waits (docs/architecture.md §7); default `adaptive`. */
  readonly notify?: NotifyMode;
  /**
   * Rings the PEER's doorbell when the peer is parked (eventfd / device). Records that handlers
   * send while a received batch is dispatched share one ring, rung when the batch is done.
   */
  readonly peerWaker?: Waker;
  /** This side's doorbell, slept on in `event`/`adaptive` mode. */
  readonly ownWaker?: Waker;
  /**
   * The region's page granule (its header's, `readRegionHeader(...).pageGranule`); default
   * 4096, layout v1.
   */
  readonly pageGranule?: PageGranule;
  /** Peer counts as gone when its heartbeat stalls this long (ms, default 1000). */
  readonly peerTimeoutMs?: number;
  /**
   * `mac`/`aead` channels: every record sent is sealed and every record received is checked
   * (sequence, then tag) before any handler sees it; absent for `plain`.
   */
  readonly protection?: ChannelProtection;
}

/**
 * Called synchronously for each record; the record (and its payload view) dies on return —
 * unless the handler returns a promise: then the record stays valid, and the ring waits, until
 * that promise settles (the zero-copy `samples` lane holds records this way).
 */
export type RecordHandler = (record: RingRecord) => void | PromiseLike<void>;

/**
 * One side of a channel: the two SPSC rings of a granted window, the receive loop, the
 * heartbeat, and peer liveness. Records are SOME/IP frames.
 *
 * The receive loop dispatches each record to the handler registered for its (message type
 * class, method/event id) synchronously and releases the slot right after: a handler that
 * wants to keep data copies it (or takes a `Sample`, which copies on nothing and dies on
 * release). Everything that goes wrong — a ring violation by the peer, a stalled heartbeat, a
 * peer that closed — ends in `state$` and never in an exception that kills the process.
 */
export class Channel {
  // Not readonly: a move (docs/protocol.md §11) replaces the ring ends with the successor window's.
  #producer: RingProducer;
  /** The producer itself, or its sealing front in a protected channel. */
  #sender: RecordSender;
  readonly #mode: 'plain' | ProtectedMode;
  readonly #sealer: RecordSealer | undefined;
  readonly #opener: RecordOpener | undefined;
  /** The record handlers see in a protected channel: header copied, payload in private memory. */
  #opened: RingRecord | undefined;
  #openedBuffer: ArrayBufferLike | undefined;
  #consumer: RingConsumer;
  readonly #state = new BehaviorSubject<ChannelState>('open');
  /** `#state.value` as a plain field: the send path checks it on every record. */
  #current: ChannelState = 'open';
  /** Created by the first `on()`: a channel nobody listens on yet holds no map. */
  #handlers: Map<number, RecordHandler> | undefined;
  #waiter: RingWaiter;
  readonly #waiterOptions: ConstructorParameters<typeof RingWaiter>[1];
  #heartbeat: HeartbeatTimer;
  readonly #peerWaker: HeldWaker | undefined;
  readonly #ownWaker: Waker | undefined;
  #failure: TransportError | undefined;
  /** The window's truncation check (emulated mode); read once per loop turn. */
  #windowLost: (() => boolean) | undefined;
  readonly #role: WindowRole;
  readonly #granule: PageGranule;
  /** The move to a successor window under way, if any. */
  #move: ChannelMove | undefined;
  /** A slot is on loan, or a bounded send waits for room: the producer cannot switch now. */
  #loanOut = false;
  #sendWaits = 0;
  #loop: Promise<void>;
  #unhandled: RecordHandler | undefined;
  #receiveHeld = false;
  /** Made by the first dispatched batch: an idle channel holds none. */
  #turnYield: TurnYield | undefined;
  /** Records that arrived with no handler registered for them (and no `onUnhandled`). */
  unhandledRecords = 0;

  constructor(o: ChannelOptions) {
    const granule = o.pageGranule ?? PAGE_SIZE;
    this.#role = o.role;
    this.#granule = granule;
    const dataSize = windowLayout(granule).dataSizeOf(o.window.shared.byteLength);
    if (dataSize === undefined) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `window of ${o.window.shared.byteLength} bytes is not a valid channel window for page granule ${granule}`,
      );
    }
    const send = o.role === 'consumer' ? 'c2p' : 'p2c';
    const recv = o.role === 'consumer' ? 'p2c' : 'c2p';
    // Held while a received batch is dispatched: a handler's event and its response reach a
    // parked peer with one wake-up, not two (HeldWaker).
    this.#peerWaker = o.peerWaker === undefined ? undefined : new HeldWaker(o.peerWaker);
    const sendViews = ringViews(o.window, send, dataSize, granule);
    const recvViews = ringViews(o.window, recv, dataSize, granule);
    this.#producer = new RingProducer(sendViews, {
      ...(this.#peerWaker === undefined ? {} : { waker: this.#peerWaker }),
    });
    this.#consumer = new RingConsumer(recvViews);
    const p = o.protection;
    this.#mode = p?.mode ?? 'plain';
    if (p !== undefined) {
      const crypto = p.crypto ?? defaultRecordCrypto();
      const common = { mode: p.mode, channelId: p.channelId, crypto };
      this.#sealer = new RecordSealer({
        ...common,
        key: p.keys[send],
        direction: send,
        // Never a nonce twice: past the last sequence number the channel ends, and its owner
        // re-establishes it with fresh keys.
        onExhausted: (e) => this.#fail(e),
      });
      this.#opener = new RecordOpener({ ...common, key: p.keys[recv], direction: recv });
      // Records are opened where the ring consumer found them, by offset in this data area.
      this.#opener.bindRing(recvViews.dataBulk);
      if (p.startAfterForTest !== undefined) {
        this.#sealer.resumeAfterForTest(p.startAfterForTest);
        this.#opener.resumeAfterForTest(p.startAfterForTest);
      }
      this.#sender = new SealedSender(this.#producer, this.#sealer, sendViews.dataBulk);
    } else {
      this.#sealer = undefined;
      this.#opener = undefined;
      this.#sender = this.#producer;
    }
    this.#ownWaker = o.ownWaker;
    this.#windowLost = o.window.lost;
    const mode = o.notify ?? 'adaptive';
    this.#waiterOptions = {
      mode,
      ...(o.ownWaker === undefined ? {} : { waker: o.ownWaker }),
      watchdog: new LivenessWatchdog({
        // Alive = beating, sending to us, or taking what we send.
        readHeartbeat: () => (this.#consumer.peerProgress() + this.#producer.peerConsumed()) >>> 0,
        staleAfterMs: o.peerTimeoutMs ?? 1000,
      }),
    };
    this.#waiter = new RingWaiter(this.#consumer, this.#waiterOptions);
    this.#consumer.announceNotifyMode(mode);
    this.#heartbeat = new HeartbeatTimer(this.#producer).start();
    const fail = (e: TransportError): void => this.#fail(e);
    this.#consumer.onFailure(fail);
    this.#producer.onFailure(fail);
    // Start receiving on the next turn, not inside the constructor: whatever the owner sets up
    // synchronously after `new Channel()` (ServiceProvider.serve, event subscriptions) is in
    // place before the first record is dispatched, so an early request is never unanswered.
    this.#loop = this.#run();
  }

  /** `open` until the channel ends; then why it ended. Completes after `closed`. */
  get state$(): Observable<ChannelState> {
    return this.#state.asObservable();
  }

  get state(): ChannelState {
    return this.#current;
  }

  /** Largest payload one record can carry towards the peer. */
  get maxPayload(): number {
    return this.#sender.maxPayload;
  }

  /**
   * True while a handler holds a received record (a `Sample` not yet released): the channel
   * reads nothing more from the peer until it lets go — no event, no reply.
   */
  get receiveHeld(): boolean {
    return this.#receiveHeld;
  }

  /** The error that ended the channel, if any. */
  get failure(): TransportError | undefined {
    return this.#failure;
  }

  /**
   * Registers the handler for records with this dispatch key (see `dispatchKey`); one handler
   * per key. Returns the function that unregisters it.
   */
  on(key: number, handler: RecordHandler): () => void {
    const handlers = (this.#handlers ??= new Map());
    if (handlers.has(key)) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `a handler for dispatch key 0x${key.toString(16)} is already registered`,
      );
    }
    handlers.set(key, handler);
    return () => handlers.delete(key);
  }

  /**
   * Handler for records no `on()` handler claims (e.g. to answer E_UNKNOWN_METHOD); without
   * one they are counted in `unhandledRecords`, never silently lost.
   */
  onUnhandled(handler: RecordHandler | undefined): void {
    this.#unhandled = handler;
  }

  /** `plain`, or the record protection of this channel. */
  get mode(): 'plain' | ProtectedMode {
    return this.#mode;
  }

  /**
   * Zero-copy lane, step 1: loans a slot of `payloadLength` bytes to write into; undefined when
   * the ring to the peer has no room now. Then fill `slot.payload` and `slot.header`, and
   * {@link send} it (or {@link abandon} it).
   *
   * In a `mac`/`aead` channel the ring room is reserved here too, but `slot.payload` is private
   * memory: `send` seals it into the ring (encode privately, then seal), so plaintext never
   * reaches shared memory in `aead` mode.
   */
  loan(payloadLength: number): RingSlot | undefined {
    this.#assertOpen();
    const slot = this.#sender.loan(payloadLength);
    this.#loanOut = slot !== undefined;
    return slot;
  }

  /** Zero-copy lane, step 2: sends the loaned slot to the peer (sealing it first if protected). */
  send(slot: RingSlot): void {
    this.#assertOpen();
    this.#sender.send(slot);
    this.#loanOut = false;
    if (this.#move !== undefined) this.#switchProducer();
  }

  /** Gives a loaned slot back unsent (e.g. writing into it failed). */
  abandon(slot: RingSlot): void {
    this.#sender.abandon(slot);
    this.#loanOut = false;
    if (this.#move !== undefined) this.#switchProducer();
  }

  /**
   * Copy lane: copies `payload` into the ring (sealed, if protected) and sends it; false when
   * there is no room now.
   */
  sendCopy(header: SomeIpHeader, payload: Uint8Array): boolean {
    this.#assertOpen();
    return this.#sender.sendCopy(header, payload);
  }

  /** Counts an event its publisher gave up on (ring full) in the send ring's `drops` word. */
  countDrop(): void {
    this.#producer.countDrop();
  }

  /**
   * Counts a request received on this channel and refused unrun (a provider past its calls in
   * flight bound) in the receive ring's `refused` word, which status and `sivshm top` show.
   */
  countRefusedCall(): void {
    this.#consumer.countRefused();
  }

  /** Copy lane, waiting at most `timeoutMs` for room (`ERR_TIMEOUT` after that). */
  async sendCopyWait(header: SomeIpHeader, payload: Uint8Array, timeoutMs: number): Promise<void> {
    this.#assertOpen();
    this.#sendWaits++;
    try {
      await this.#sender.sendCopyWait(header, payload, { timeoutMs });
    } finally {
      this.#sendWaits--;
      if (this.#move !== undefined) this.#switchProducer();
    }
  }

  /**
   * Moves this end of the channel to its successor window (docs/protocol.md §11), mapped from
   * the grant hostd gave it for `successorId`. The producer switches at the next record
   * boundary and leaves a move marker in the old send ring; the receive loop reads the old ring
   * up to the peer's marker, then the new one. Resolves when the move is complete at this end
   * (the old window is no longer needed and may be revoked); the channel fails (`ERR_TIMEOUT`)
   * when it is not complete within `boundMs`.
   */
  moveTo(window: WindowMemory, successorId: bigint, boundMs?: number): Promise<void> {
    this.#assertOpen();
    if (this.#move !== undefined) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `the channel is already moving to successor ${this.#move.successorId}`,
      );
    }
    if (
      boundMs !== undefined &&
      !(Number.isInteger(boundMs) && boundMs >= 1 && boundMs <= 600_000)
    ) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `moveTo: boundMs must be a whole number of ms in 1..600000, got ${String(boundMs)}`,
      );
    }
    const move = new ChannelMove({
      successorId,
      window,
      role: this.#role,
      pageGranule: this.#granule,
      ...(this.#peerWaker === undefined ? {} : { peerWaker: this.#peerWaker }),
      ...(boundMs === undefined ? {} : { boundMs }),
    });
    this.#move = move;
    move.consumer.announceNotifyMode(this.#waiterOptions?.mode ?? 'adaptive');
    move.done.then(
      () => {
        if (this.#move === move) this.#move = undefined;
      },
      (e: TransportError) => this.#fail(e),
    );
    this.#switchProducer();
    return move.done;
  }

  /** Stops the loop and the heartbeat, tells the peer (ring closed flags). Idempotent. */
  async close(): Promise<void> {
    if (this.#state.value === 'closed') return;
    this.#move?.abort(new TransportError('ERR_CLOSED', 'the channel closed during its move'));
    this.#heartbeat.stop();
    this.#producer.close();
    this.#consumer.close();
    this.#setState('closed');
    this.#ownWaker?.close();
    this.#peerWaker?.close();
    await this.#loop;
    // After the loop: a handler holding a record (samples lane) has let go of the private copy.
    this.#sealer?.dispose();
    this.#opener?.dispose();
    this.#state.complete();
  }

  /** Checks and opens a protected record into private memory; throws `IntegrityError`. */
  #open(raw: RingRecord, opener: RecordOpener): RingRecord {
    // By offset: no view of the ring is made for a record only the addon reads.
    const length = opener.openAt(raw.header, raw.payloadOffset, raw.payloadLength);
    const plain = opener.plaintext;
    if (this.#opened === undefined || this.#openedBuffer !== plain.buffer) {
      this.#opened = new RingRecord(plain);
      this.#openedBuffer = plain.buffer;
    }
    const r = this.#opened;
    // Field by field: Object.assign costs a visible share of a small protected record.
    const h = r.header;
    const g = raw.header;
    h.service = g.service;
    h.method = g.method;
    h.client = g.client;
    h.session = g.session;
    h.interfaceVersion = g.interfaceVersion;
    h.messageType = g.messageType;
    h.returnCode = g.returnCode;
    r.payloadOffset = 0;
    r.payloadLength = length;
    return r;
  }

  #assertOpen(): void {
    if (this.#current !== 'open') {
      throw this.#failure ?? new TransportError('ERR_CLOSED', `the channel is ${this.#current}`);
    }
  }

  /** Sends into the successor window from here on, if nothing is on loan or waiting for room. */
  #switchProducer(): void {
    const move = this.#move;
    if (move === undefined || move.switched || this.#loanOut || this.#sendWaits > 0) return;
    const old = this.#producer;
    this.#producer = move.producer;
    this.#producer.onFailure((e) => this.#fail(e));
    this.#sender =
      this.#sealer === undefined
        ? this.#producer
        : new SealedSender(this.#producer, this.#sealer, move.sendViews.dataBulk);
    this.#heartbeat.stop();
    this.#heartbeat = new HeartbeatTimer(this.#producer).start();
    this.#windowLost = move.window.lost;
    move.switchedFrom(old);
  }

  /**
   * The receive ring's producer moved to `successor`: read the new window from now on, if it is
   * the successor this end was granted. A marker before any grant is waited for (hostd's grant
   * to this end may arrive after the peer's switch), within the move bound.
   */
  async #follow(successor: bigint): Promise<void> {
    const move = await successorToFollow(
      () => this.#move,
      () => this.#state.value === 'open',
      successor,
      this.#consumer,
    );
    if (move === undefined) return;
    if (move instanceof TransportError) {
      this.#fail(move);
      return;
    }
    this.#consumer = move.consumer;
    this.#consumer.onFailure((e) => this.#fail(e));
    this.#opener?.bindRing(move.recvViews.dataBulk);
    this.#waiter = new RingWaiter(this.#consumer, this.#waiterOptions);
    move.followed();
  }

  #fail(e: TransportError): void {
    if (this.#state.value !== 'open') return;
    this.#move?.abort(e);
    this.#failure = e;
    this.#heartbeat.stop();
    this.#setState(e.code === 'ERR_PEER_GONE' ? 'peer-gone' : 'failed');
  }

  #setState(s: ChannelState): void {
    if (this.#current === s || this.#current === 'closed') return;
    this.#current = s;
    this.#state.next(s);
  }

  async #run(): Promise<void> {
    // The first turn waits for the next one (see the constructor).
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.#current === 'open') {
      const c = this.#consumer;
      if (c.movedTo !== undefined) {
        await this.#follow(c.movedTo);
        continue;
      }
      if (this.#windowLost?.() === true) {
        this.#fail(
          new TransportError(
            'ERR_REGION_LOST',
            'the region file was truncated under this channel: its window is gone',
          ),
        );
        break;
      }
      let ready: boolean;
      try {
        // afterSpin: one spin budget per turn, not two (wait() would spin again first).
        ready = this.#waiter.trySpin() || (await this.#waiter.wait(100, { afterSpin: true }));
      } catch (e) {
        this.#fail(TransportError.is(e) ? e : new TransportError('ERR_PEER_GONE', String(e)));
        break;
      }
      if (!ready || this.#current !== 'open') continue;
      let dispatched = 0;
      const doorbell = this.#peerWaker;
      doorbell?.hold();
      try {
        for (
          let raw = c.receive();
          raw !== undefined;
          raw = dispatched < RECORDS_PER_TURN ? c.receive() : undefined
        ) {
          let r = raw;
          if (this.#opener !== undefined) {
            try {
              r = this.#open(raw, this.#opener);
            } catch (e) {
              // Never delivered: the channel ends, and its owner re-establishes it.
              c.release();
              this.#fail(e as TransportError);
              break;
            }
          }
          dispatched++;
          const h =
            this.#handlers?.get(dispatchKey(r.header.messageType, r.header.method)) ??
            this.#unhandled;
          if (h === undefined) this.unhandledRecords++;
          try {
            const hold = h?.(r);
            if (hold !== undefined) {
              // The record is held until the app releases it, which may take long: what was
              // sent so far must not wait for that.
              doorbell?.release();
              this.#receiveHeld = true;
              try {
                await hold;
              } finally {
                this.#receiveHeld = false;
              }
              doorbell?.hold();
            }
          } catch (e) {
            // A throwing handler is the app's bug: report it, keep the channel alive.
            console.error('sivshm: record handler threw', e);
          } finally {
            c.release();
          }
          if (this.#current !== 'open') break;
        }
      } finally {
        doorbell?.release();
      }
      if (c.movedTo !== undefined) continue;
      if (c.failure !== undefined) this.#fail(c.failure);
      else if (c.producerClosed)
        this.#fail(new TransportError('ERR_PEER_GONE', 'the peer closed the channel'));
      // Let the app run before spinning again (its continuations are microtasks a spin starves).
      if (dispatched > 0) {
        await (this.#turnYield ??= new TurnYield()).afterBatch(dispatched >= RECORDS_PER_TURN);
      }
    }
  }
}

/**
 * Key under which a record is dispatched: requests (REQUEST, REQUEST_NO_RETURN) and
 * notifications by method/event id; responses and errors by method id in a separate space.
 */
export function dispatchKey(messageType: number, method: number): number {
  const response = messageType === 0x80 || messageType === 0x81;
  return (response ? 0x1_0000 : 0) | (method & 0xffff);
}
