/** The client protocol of each benchmarked system, by name. */
import type { ClientProtocol, ProtocolName } from './types.ts';
import { connectMeridian } from './meridian.ts';
import { connectRawWs } from './rawws.ts';
import { connectSocketIo } from './socketio.ts';

export const PROTOCOLS: Record<ProtocolName, ClientProtocol> = {
  meridian: connectMeridian,
  socketio: connectSocketIo,
  rawws: connectRawWs,
};
