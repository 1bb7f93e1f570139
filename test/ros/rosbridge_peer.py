#!/usr/bin/python3
"""
A small rosbridge v2 server for the tests, on Debian's rospy and the Python
standard library only (no rosbridge_suite exists in Debian or npm).

It follows ROSBRIDGE_PROTOCOL.md (v2.0) for the operations the SDK uses:
advertise, unadvertise, publish, subscribe, unsubscribe, call_service,
set_level and status, plus the ROS 1 'auth' op. It bridges to a real
roscore: what a client publishes goes out on the ROS graph through rospy
publishers, and ROS topics a client subscribes to come back as 'publish'
ops. JSON <-> message conversion follows rosbridge's ROS 1 conventions:
time and duration as {secs, nsecs}, uint8[]/char[] as base64 strings.
Non-finite floats are sent as JSON null (JSON has no NaN).

Binds 127.0.0.1 only. Prints "READY <port>" on stdout once it accepts
connections.

Usage: rosbridge_peer.py [--port N] [--auth-secret S] [--status-level error]
"""

import argparse
import base64
import hashlib
import json
import math
import os
import socket
import struct
import sys
import threading
import time
import traceback

import rosgraph
import rospy
import rosservice
import roslib.message

from parent_watch import stop_requests

WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
LEVELS = {'none': 0, 'error': 1, 'warning': 2, 'info': 3}

INT_RANGES = {
    'int8': (-2 ** 7, 2 ** 7 - 1), 'uint8': (0, 2 ** 8 - 1), 'byte': (-2 ** 7, 2 ** 7 - 1), 'char': (0, 2 ** 8 - 1),
    'int16': (-2 ** 15, 2 ** 15 - 1), 'uint16': (0, 2 ** 16 - 1),
    'int32': (-2 ** 31, 2 ** 31 - 1), 'uint32': (0, 2 ** 32 - 1),
    'int64': (-2 ** 63, 2 ** 63 - 1), 'uint64': (0, 2 ** 64 - 1),
}
FLOATS = ('float32', 'float64')


def log(text):
    sys.stderr.write('[peer] %s\n' % text)
    sys.stderr.flush()


class ConversionError(Exception):
    pass


# ---------------------------------------------------------------- conversion

def split_type(slot_type):
    """'float64[3]' -> ('float64', True, 3); 'string[]' -> ('string', True, None); 'int32' -> ('int32', False, None)."""
    if slot_type.endswith(']'):
        base, _, rest = slot_type.partition('[')
        size = rest[:-1]
        return base, True, (int(size) if size else None)
    return slot_type, False, None


def full_type(base):
    if base == 'Header':
        return 'std_msgs/Header'
    return base


def message_class(type_name):
    cls = roslib.message.get_message_class(full_type(type_name))
    if cls is None:
        raise ConversionError('unknown message type %r' % type_name)
    return cls


def to_json(value, slot_type):
    base, is_array, _ = split_type(slot_type)
    if is_array:
        if base in ('uint8', 'char'):
            if isinstance(value, str):
                value = value.encode('latin-1')
            return base64.b64encode(bytes(value)).decode('ascii')
        return [to_json(v, base) for v in value]
    if base in FLOATS:
        v = float(value)
        return v if math.isfinite(v) else None
    if base in INT_RANGES:
        return int(value)
    if base == 'bool':
        return bool(value)
    if base == 'string':
        return value if isinstance(value, str) else value.decode('utf-8', 'replace')
    if base in ('time', 'duration'):
        return {'secs': int(value.secs), 'nsecs': int(value.nsecs)}
    return message_to_json(value)


def message_to_json(msg):
    return {slot: to_json(getattr(msg, slot), t) for slot, t in zip(msg.__slots__, msg._slot_types)}


def from_json(data, slot_type, path):
    base, is_array, size = split_type(slot_type)
    if is_array:
        if base in ('uint8', 'char') and isinstance(data, str):
            try:
                out = base64.b64decode(data, validate=True)
            except Exception:
                raise ConversionError('%s: expected base64 or a list of bytes' % path)
        elif isinstance(data, list):
            if base in ('uint8', 'char'):
                out = bytes(from_json(v, base, '%s[%d]' % (path, i)) for i, v in enumerate(data))
            else:
                out = [from_json(v, base, '%s[%d]' % (path, i)) for i, v in enumerate(data)]
        else:
            raise ConversionError('%s: expected an array, got %s' % (path, type(data).__name__))
        if size is not None and len(out) != size:
            raise ConversionError('%s: expected %d items, got %d' % (path, size, len(out)))
        return out
    if base in FLOATS:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise ConversionError('%s: expected a number, got %s' % (path, json.dumps(data)))
        return float(data)
    if base in INT_RANGES:
        if isinstance(data, bool) or not isinstance(data, int):
            raise ConversionError('%s: expected an integer, got %s' % (path, json.dumps(data)))
        lo, hi = INT_RANGES[base]
        if not lo <= data <= hi:
            raise ConversionError('%s: %d out of range for %s' % (path, data, base))
        return data
    if base == 'bool':
        if not isinstance(data, bool):
            raise ConversionError('%s: expected a boolean' % path)
        return data
    if base == 'string':
        if not isinstance(data, str):
            raise ConversionError('%s: expected a string' % path)
        return data
    if base in ('time', 'duration'):
        if not isinstance(data, dict):
            raise ConversionError('%s: expected {secs, nsecs}' % path)
        secs = data.get('secs', data.get('sec', 0))
        nsecs = data.get('nsecs', data.get('nanosec', 0))
        if not isinstance(secs, int) or not isinstance(nsecs, int):
            raise ConversionError('%s: secs and nsecs must be integers' % path)
        return (rospy.Time if base == 'time' else rospy.Duration)(secs, nsecs)
    return message_from_json(message_class(base), data, path)


def message_from_json(cls, data, path='msg'):
    if not isinstance(data, dict):
        raise ConversionError('%s: expected an object for %s' % (path, cls._type))
    msg = cls()
    slots = dict(zip(cls.__slots__, cls._slot_types))
    for key in data:
        if key not in slots:
            raise ConversionError('%s: %s has no field %r' % (path, cls._type, key))
    for slot, slot_type in slots.items():
        if slot in data:
            setattr(msg, slot, from_json(data[slot], slot_type, '%s.%s' % (path, slot)))
    # rosbridge: a message with a header may omit it, or its stamp; stamp = now.
    if getattr(cls, '_has_header', False) and path == 'msg':
        header = data.get('header')
        if not isinstance(header, dict) or 'stamp' not in header:
            msg.header.stamp = rospy.Time.now()
    return msg


# ---------------------------------------------------------------- websocket

class Closed(Exception):
    pass


class WebSocket:
    """Server side of RFC 6455 over a blocking socket: text/binary frames, fragmentation, ping/pong, close."""

    def __init__(self, sock):
        self.sock = sock
        self.send_lock = threading.Lock()
        self.closed = False
        self.buf = b''

    def _read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed()
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def handshake(self):
        while b'\r\n\r\n' not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk or len(self.buf) > 65536:
                raise Closed()
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b'\r\n\r\n')
        lines = head.decode('latin-1').split('\r\n')
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(':')
            headers[k.strip().lower()] = v.strip()
        key = headers.get('sec-websocket-key')
        if not lines[0].startswith('GET ') or 'websocket' not in headers.get('upgrade', '').lower() or not key:
            self.sock.sendall(b'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
            raise Closed()
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode('ascii')).digest()).decode('ascii')
        self.sock.sendall((
            'HTTP/1.1 101 Switching Protocols\r\n'
            'Upgrade: websocket\r\nConnection: Upgrade\r\n'
            'Sec-WebSocket-Accept: %s\r\n\r\n' % accept).encode('ascii'))

    def _read_frame(self):
        b0, b1 = self._read_exact(2)
        fin, opcode = b0 & 0x80, b0 & 0x0F
        masked, length = b1 & 0x80, b1 & 0x7F
        if length == 126:
            length = struct.unpack('>H', self._read_exact(2))[0]
        elif length == 127:
            length = struct.unpack('>Q', self._read_exact(8))[0]
        if length > 64 * 1024 * 1024:
            raise Closed()
        mask = self._read_exact(4) if masked else None
        payload = self._read_exact(length)
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if length < 256 else self._unmask(payload, mask)
        return bool(fin), opcode, payload

    @staticmethod
    def _unmask(payload, mask):
        n = len(payload)
        key = int.from_bytes((mask * (n // 4 + 1))[:n], 'big')
        return (int.from_bytes(payload, 'big') ^ key).to_bytes(n, 'big')

    def receive(self):
        """The next whole data message as (opcode, bytes); answers pings; raises Closed."""
        parts, first_op = [], None
        while True:
            fin, opcode, payload = self._read_frame()
            if opcode == 0x8:
                self._send_frame(0x8, payload[:2])
                raise Closed()
            if opcode == 0x9:
                self._send_frame(0xA, payload)
                continue
            if opcode == 0xA:
                continue
            if opcode in (0x1, 0x2):
                first_op, parts = opcode, [payload]
            elif opcode == 0x0 and first_op is not None:
                parts.append(payload)
            else:
                raise Closed()
            if fin:
                return first_op, b''.join(parts)

    def _send_frame(self, opcode, payload):
        n = len(payload)
        if n < 126:
            head = struct.pack('>BB', 0x80 | opcode, n)
        elif n < 65536:
            head = struct.pack('>BBH', 0x80 | opcode, 126, n)
        else:
            head = struct.pack('>BBQ', 0x80 | opcode, 127, n)
        with self.send_lock:
            if self.closed:
                return
            try:
                self.sock.sendall(head + payload)
            except OSError:
                self.closed = True

    def send_text(self, text):
        self._send_frame(0x1, text.encode('utf-8'))

    def close(self):
        if not self.closed:
            self._send_frame(0x8, struct.pack('>H', 1000))
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


# ---------------------------------------------------------------- bridge

class Bridge:
    """ROS side shared by all clients: one rospy publisher / subscriber per topic."""

    def __init__(self):
        self.lock = threading.RLock()
        self.publishers = {}   # topic -> {'pub', 'type', 'cls', 'owners': set(client ids)}
        self.subscribers = {}  # topic -> {'sub', 'type', 'clients': {(client, sub_id)}}

    def advertise(self, client, topic, type_name, latch, queue_size):
        with self.lock:
            entry = self.publishers.get(topic)
            if entry is not None:
                if entry['type'] != type_name:
                    raise ConversionError('topic %s already advertised as %s' % (topic, entry['type']))
                entry['owners'].add(client.cid)
                return
            cls = message_class(type_name)
            pub = rospy.Publisher(topic, cls, queue_size=max(1, queue_size), latch=latch)
            self.publishers[topic] = {'pub': pub, 'type': type_name, 'cls': cls, 'owners': {client.cid}}
        wait_for_subscribers(pub, topic)

    def unadvertise(self, client, topic):
        with self.lock:
            entry = self.publishers.get(topic)
            if entry is None or client.cid not in entry['owners']:
                return False
            entry['owners'].discard(client.cid)
            if not entry['owners']:
                # rospy sends from a queue on its own thread: unregistering at once could drop the
                # last messages published just before the unadvertise.
                timer = threading.Timer(1.0, entry['pub'].unregister)
                timer.daemon = True
                timer.start()
                del self.publishers[topic]
            return True

    def publish(self, topic, data):
        with self.lock:
            entry = self.publishers.get(topic)
        if entry is None:
            raise ConversionError('topic %s is not advertised' % topic)
        entry['pub'].publish(message_from_json(entry['cls'], data))

    def subscribe(self, client, sub_id, topic, type_name):
        with self.lock:
            entry = self.subscribers.get(topic)
            if entry is None:
                published = published_type(topic, required=not type_name)
                if not type_name:
                    type_name = published
                elif published and published != type_name:
                    raise ConversionError('topic %s is published as %s, not %s' % (topic, published, type_name))
                cls = message_class(type_name)
                entry = {'type': type_name, 'clients': set()}
                entry['sub'] = rospy.Subscriber(topic, cls, lambda msg, t=topic: self._forward(t, msg), queue_size=100)
                self.subscribers[topic] = entry
            elif type_name and type_name != entry['type']:
                raise ConversionError('topic %s is subscribed as %s' % (topic, entry['type']))
            entry['clients'].add((client, sub_id))

    def unsubscribe(self, client, sub_id, topic):
        with self.lock:
            entry = self.subscribers.get(topic)
            if entry is None:
                return False
            kept = {(c, s) for (c, s) in entry['clients'] if not (c is client and (sub_id is None or s == sub_id))}
            removed = len(entry['clients']) - len(kept)
            entry['clients'] = kept
            if not kept:
                entry['sub'].unregister()
                del self.subscribers[topic]
            return removed > 0

    def _forward(self, topic, msg):
        with self.lock:
            entry = self.subscribers.get(topic)
            clients = list(entry['clients']) if entry else []
        if not clients:
            return
        text = json.dumps({'op': 'publish', 'topic': topic, 'msg': message_to_json(msg)}, allow_nan=False)
        sent = set()
        for client, sub_id in clients:
            if client in sent or not client.accepts(sub_id, topic):
                continue
            sent.add(client)
            client.ws.send_text(text)

    def drop_client(self, client):
        with self.lock:
            for topic in list(self.publishers):
                self.unadvertise(client, topic)
            for topic in list(self.subscribers):
                self.unsubscribe(client, None, topic)


def published_type(topic, required=True):
    for name, type_name in rospy.get_published_topics():
        if name == rospy.resolve_name(topic):
            return type_name
    if required:
        raise ConversionError('cannot infer the type of %s: no publisher, and no type given' % topic)
    return None


def wait_for_subscribers(pub, topic, timeout=2.0):
    """
    rospy delivers a message only to subscribers already connected: wait until
    every subscriber the master knows of has connected, so that the first
    messages a client publishes right after advertising are not lost.
    """
    master = rosgraph.Master(rospy.get_name())
    deadline = time.monotonic() + timeout
    try:
        _, subs, _ = master.getSystemState()
    except Exception:
        return
    expected = sum(len(nodes) for name, nodes in subs if name == rospy.resolve_name(topic))
    while pub.get_num_connections() < expected and time.monotonic() < deadline:
        time.sleep(0.005)


class Client(threading.Thread):
    next_id = 0

    def __init__(self, server, sock, addr):
        super().__init__(daemon=True)
        Client.next_id += 1
        self.cid = Client.next_id
        self.server = server
        self.ws = WebSocket(sock)
        self.addr = addr
        self.level = server.status_level
        self.authenticated = server.auth_secret is None
        self.throttle = {}  # sub_id -> (throttle_ms, last_sent_monotonic)

    def accepts(self, sub_id, topic):
        rate, last = self.throttle.get(sub_id, (0, 0.0))
        if rate <= 0:
            return True
        now = time.monotonic()
        if (now - last) * 1000.0 < rate:
            return False
        self.throttle[sub_id] = (rate, now)
        return True

    def status(self, level, text, op_id=None):
        if LEVELS[level] > self.level or self.level == 0:
            return
        out = {'op': 'status', 'level': level, 'msg': text}
        if op_id is not None:
            out['id'] = op_id
        self.ws.send_text(json.dumps(out))

    def run(self):
        try:
            self.ws.handshake()
            log('client %d connected from %s:%d' % (self.cid, self.addr[0], self.addr[1]))
            while True:
                opcode, payload = self.ws.receive()
                if opcode != 0x1:
                    self.status('error', 'binary (BSON/CBOR) messages are not supported by this peer')
                    continue
                self.handle(payload.decode('utf-8', 'replace'))
        except (Closed, OSError):
            pass
        except Exception:
            log(traceback.format_exc())
        finally:
            self.server.bridge.drop_client(self)
            self.ws.close()
            self.server.forget(self)
            log('client %d disconnected' % self.cid)

    def handle(self, text):
        try:
            msg = json.loads(text)
        except ValueError as err:
            self.status('error', 'invalid JSON: %s' % err)
            return
        if not isinstance(msg, dict) or not isinstance(msg.get('op'), str):
            self.status('error', 'a rosbridge message is a JSON object with a string field "op"')
            return
        op, op_id = msg['op'], msg.get('id')
        if not self.authenticated:
            if op == 'auth' and self.server.check_auth(msg):
                self.authenticated = True
                log('client %d authenticated' % self.cid)
                return
            log('client %d did not authenticate; closing' % self.cid)
            raise Closed()
        handler = getattr(self, 'op_' + op, None)
        if handler is None:
            self.status('error', 'unknown op %r' % op, op_id)
            return
        try:
            handler(msg)
        except (ConversionError, KeyError, TypeError, ValueError) as err:
            self.status('error', '%s: %s' % (op, err), op_id)
        except Exception as err:
            log(traceback.format_exc())
            self.status('error', '%s failed: %s' % (op, err), op_id)

    def op_auth(self, msg):
        pass  # authenticated already, or authentication disabled: ignored, as the protocol says

    def op_set_level(self, msg):
        if msg.get('level') in LEVELS:
            self.level = LEVELS[msg['level']]

    def op_advertise(self, msg):
        self.server.bridge.advertise(self, msg['topic'], msg['type'], bool(msg.get('latch', False)), int(msg.get('queue_size', 100)))
        self.status('info', 'advertised %s' % msg['topic'], msg.get('id'))

    def op_unadvertise(self, msg):
        if not self.server.bridge.unadvertise(self, msg['topic']):
            self.status('warning', 'unadvertise: %s is not advertised by this client' % msg['topic'], msg.get('id'))

    def op_publish(self, msg):
        self.server.bridge.publish(msg['topic'], msg.get('msg', {}))

    def op_subscribe(self, msg):
        sub_id = msg.get('id') or 'subscribe:%s' % msg['topic']
        self.throttle[sub_id] = (int(msg.get('throttle_rate', 0) or 0), 0.0)
        self.server.bridge.subscribe(self, sub_id, msg['topic'], msg.get('type'))
        self.status('info', 'subscribed to %s' % msg['topic'], msg.get('id'))

    def op_unsubscribe(self, msg):
        if not self.server.bridge.unsubscribe(self, msg.get('id'), msg['topic']):
            self.status('warning', 'unsubscribe: not subscribed to %s' % msg['topic'], msg.get('id'))

    def op_call_service(self, msg):
        threading.Thread(target=self._call_service, args=(msg,), daemon=True).start()

    def _call_service(self, msg):
        service, op_id = msg['service'], msg.get('id')
        out = {'op': 'service_response', 'service': service}
        if op_id is not None:
            out['id'] = op_id
        try:
            cls = rosservice.get_service_class_by_name(service)
            req_cls = cls._request_class
            args = msg.get('args', [])
            if isinstance(args, list):
                if len(args) > len(req_cls.__slots__):
                    raise ConversionError('too many args for %s' % cls._type)
                args = dict(zip(req_cls.__slots__, args))
            request = message_from_json(req_cls, args, 'args')
            response = rospy.ServiceProxy(service, cls)(request)
            out.update(values=message_to_json(response), result=True)
        except Exception as err:
            out.update(values=str(err), result=False)
            self.status('error', 'call_service %s: %s' % (service, err), op_id)
        self.ws.send_text(json.dumps(out, allow_nan=False))


class Server:
    def __init__(self, port, auth_secret, status_level):
        self.auth_secret = auth_secret
        self.status_level = LEVELS[status_level]
        self.bridge = Bridge()
        self.clients = set()
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', port))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def check_auth(self, msg):
        """rosauth's scheme: mac = sha512(secret + client + dest + rand + t + level + end), hex; session not expired."""
        try:
            fields = [str(msg[k]) for k in ('client', 'dest', 'rand', 't', 'level', 'end')]
            expected = hashlib.sha512((self.auth_secret + ''.join(fields)).encode('utf-8')).hexdigest()
            return expected == msg['mac'] and float(msg['end']) > time.time()
        except (KeyError, ValueError, TypeError):
            return False

    def forget(self, client):
        with self.lock:
            self.clients.discard(client)

    def serve(self):
        while True:
            try:
                sock, addr = self.sock.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client = Client(self, sock, addr)
            with self.lock:
                self.clients.add(client)
            client.start()

    def shutdown(self):
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            clients = list(self.clients)
        for c in clients:
            c.ws.close()


def main():
    parser = argparse.ArgumentParser(description='rosbridge v2 peer for the flowpolicy tests')
    parser.add_argument('--port', type=int, default=9090)
    parser.add_argument('--auth-secret', default=None)
    parser.add_argument('--status-level', default='error', choices=sorted(LEVELS))
    args = parser.parse_args(rospy.myargv()[1:])

    rospy.init_node('rosbridge_peer', anonymous=True, disable_signals=True)
    server = Server(args.port, args.auth_secret, args.status_level)
    done = threading.Event()
    stop_requested = stop_requests(done)
    threading.Thread(target=server.serve, daemon=True).start()
    sys.stdout.write('READY %d\n' % server.port)
    sys.stdout.flush()
    while not stop_requested() and not rospy.is_shutdown():
        done.wait(0.2)
    server.shutdown()
    rospy.signal_shutdown('peer stopped')
    log('stopped')
    os._exit(0)


if __name__ == '__main__':
    main()
