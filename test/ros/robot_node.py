#!/usr/bin/python3
"""
A rospy "robot" for the tests: publishes sensor_msgs/JointState at a fixed
rate, integrates the commands it receives, and records every command
(arrival time, header seq and stamp, values) so the test can check order,
limits and rate. On exit (SIGTERM, SIGINT, 'quit' on stdin) it writes a JSON
log with every command and the checks computed here, on the ROS side.

Commands:
  trajectory  trajectory_msgs/JointTrajectory: the first point's positions
              become the joint positions (an ideal position controller).
  array       std_msgs/Float64MultiArray: positions (--array-mode position)
              or velocities integrated at the state rate (velocity).
  twist       geometry_msgs/Twist: the axes named by --twist-axes are
              velocities of the joints, integrated at the state rate.

Faults, one word a line on stdin: stale (stop publishing JointState),
fresh (publish again), nan (publish NaN positions), short (one position
fewer than names: a message the SDK must refuse), ok (finite and whole again),
estop / release (publish True / False on --estop-topic), quit.
Each is acknowledged on stdout: "ACK <word> <unix time>".

The std_srvs/Trigger service ~status answers with a JSON summary.
"""

import argparse
import json
import math
import os
import struct
import sys
import threading
import time
import zlib

import rospy
from geometry_msgs.msg import PoseStamped, Twist
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Bool, Float64MultiArray, MultiArrayDimension
from std_srvs.srv import Trigger, TriggerResponse
from trajectory_msgs.msg import JointTrajectory

from parent_watch import stop_requests


def percentile(values, q):
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(math.floor(k)), int(math.ceil(k))
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def png_bytes(width, height, rgb):
    """An 8-bit RGB PNG (filter 0 on every row) of `rgb`, row-major bytes."""
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)
    raw = b''.join(b'\x00' + rgb[y * width * 3:(y + 1) * width * 3] for y in range(height))
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))


def camera_rgb(width, height, frame):
    """The test pattern: R = 10 x + y, G = 50 + frame % 100, B = 200 - x y."""
    out = bytearray()
    for y in range(height):
        for x in range(width):
            out += bytes((10 * x + y, 50 + frame % 100, 200 - x * y))
    return bytes(out)


class Robot:
    def __init__(self, args):
        self.args = args
        self.joints = args.joints.split(',')
        n = len(self.joints)
        self.position = [float(v) for v in args.initial.split(',')] if args.initial else [0.0] * n
        assert len(self.position) == n, 'one initial position per joint'
        self.initial = list(self.position)
        self.velocity = [0.0] * n
        self.lock = threading.Lock()
        self.commands = []
        self.events = []
        self.publish_state = True
        self.nan = False
        self.short = False
        self.states_published = 0
        self.twist_axes = args.twist_axes.split(',') if args.twist_axes else []
        self.state_pub = rospy.Publisher(args.state_topic, JointState, queue_size=10)
        self.estop_pub = rospy.Publisher(args.estop_topic, Bool, queue_size=1, latch=True) if args.estop_topic else None
        kind = {'trajectory': JointTrajectory, 'array': Float64MultiArray, 'twist': Twist}[args.command_type]
        self.sub = rospy.Subscriber(args.command_topic, kind, self.on_command, queue_size=1000, tcp_nodelay=True)
        self.srv = rospy.Service('~status', Trigger, self.on_status)
        self.frame = 0
        if args.sensors:
            self.pose_pub = rospy.Publisher('/sensors/pose', PoseStamped, queue_size=10)
            self.array_pub = rospy.Publisher('/sensors/array', Float64MultiArray, queue_size=10)
            self.image_pub = rospy.Publisher('/sensors/image', Image, queue_size=10)
            self.png_pub = rospy.Publisher('/sensors/image/compressed', CompressedImage, queue_size=10)

    # ------------------------------------------------------------ commands
    def on_command(self, msg):
        arrival = time.time()
        mono = time.monotonic()
        rec = {'t': arrival, 'mono': mono}
        kind = self.args.command_type
        with self.lock:
            if kind == 'trajectory':
                rec['seq'] = msg.header.seq
                rec['stamp'] = msg.header.stamp.to_sec()
                # Exact: a float of seconds since the epoch has only ~0.2 us resolution.
                rec['stamp_ns'] = msg.header.stamp.to_nsec()
                rec['joint_names'] = list(msg.joint_names)
                rec['points'] = len(msg.points)
                if msg.points:
                    p = msg.points[0]
                    rec['values'] = list(p.positions)
                    rec['time_from_start'] = p.time_from_start.to_sec()
                    if list(msg.joint_names) == self.joints and len(p.positions) == len(self.joints):
                        self.position = list(p.positions)
            elif kind == 'array':
                rec['values'] = list(msg.data)
                if len(msg.data) == len(self.joints):
                    if self.args.array_mode == 'position':
                        self.position = list(msg.data)
                    else:
                        self.velocity = list(msg.data)
            else:
                values = []
                for axis in self.twist_axes:
                    part, _, comp = axis.partition('.')
                    values.append(getattr(getattr(msg, part), comp))
                rec['values'] = values
                self.velocity = list(values) + [0.0] * (len(self.joints) - len(values))
            self.commands.append(rec)

    def on_status(self, _req):
        with self.lock:
            body = {'commands': len(self.commands), 'position': self.position, 'states': self.states_published}
        return TriggerResponse(success=True, message=json.dumps(body))

    # ------------------------------------------------------------ state
    def state_loop(self):
        period = 1.0 / self.args.state_rate
        next_t = time.monotonic()
        last = next_t
        while not rospy.is_shutdown() and not self.stopping.is_set():
            now = time.monotonic()
            with self.lock:
                dt = now - last
                last = now
                if self.args.command_type == 'twist' or (self.args.command_type == 'array' and self.args.array_mode == 'velocity'):
                    self.position = [p + v * dt for p, v in zip(self.position, self.velocity)]
                position = [float('nan')] * len(self.position) if self.nan else list(self.position)
                if self.short:
                    position = position[:-1]
                publish = self.publish_state
            if publish:
                msg = JointState()
                msg.header.stamp = rospy.Time.now()
                msg.name = self.joints
                msg.position = position
                msg.velocity = list(self.velocity)
                self.state_pub.publish(msg)
                self.states_published += 1
                if self.args.sensors:
                    self.publish_sensors(msg.header.stamp, position)
            next_t += period
            delay = next_t - time.monotonic()
            if delay > 0:
                self.stopping.wait(delay)
            else:
                next_t = time.monotonic()

    def publish_sensors(self, stamp, position):
        """Mirrors of the joint state on the other observation types, and a camera (4 x 3 test pattern)."""
        pose = PoseStamped()
        pose.header.stamp = stamp
        pose.header.frame_id = 'base'
        pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = (position + [0.0, 0.0, 0.0])[:3]
        pose.pose.orientation.w = 1.0
        self.pose_pub.publish(pose)
        arr = Float64MultiArray()
        arr.layout.dim = [MultiArrayDimension(label='joints', size=len(position), stride=len(position))]
        arr.data = list(position) + [float(self.frame)]
        self.array_pub.publish(arr)
        w, h = 4, 3
        rgb = camera_rgb(w, h, self.frame)
        img = Image()
        img.header.stamp = stamp
        img.height, img.width, img.encoding, img.step = h, w, 'bgr8', w * 3
        img.data = b''.join(rgb[i:i + 3][::-1] for i in range(0, len(rgb), 3))
        self.image_pub.publish(img)
        comp = CompressedImage()
        comp.header.stamp = stamp
        comp.format = 'rgb8; png compressed'
        comp.data = png_bytes(w, h, rgb)
        self.png_pub.publish(comp)
        self.frame += 1

    def stdin_loop(self):
        for line in sys.stdin:
            word = line.strip()
            if not word:
                continue
            with self.lock:
                if word == 'stale':
                    self.publish_state = False
                elif word == 'fresh':
                    self.publish_state = True
                elif word == 'nan':
                    self.nan = True
                elif word == 'ok':
                    self.nan = False
                    self.short = False
                elif word == 'short':
                    self.short = True
                elif word in ('estop', 'release') and self.estop_pub is not None:
                    self.estop_pub.publish(Bool(data=(word == 'estop')))
                elif word == 'quit':
                    self.stopping.set()
                self.events.append({'event': word, 't': time.time(), 'commands_before': len(self.commands)})
            sys.stdout.write('ACK %s %.6f\n' % (word, time.time()))
            sys.stdout.flush()
            if word == 'quit':
                return

    # ------------------------------------------------------------ checks
    def checks(self):
        """Order, limits and rate of the received commands, computed on the ROS side."""
        a = self.args
        limits = json.loads(a.limits) if a.limits else None
        period = 1.0 / a.rate if a.rate else None
        cmds = [c for c in self.commands if 'values' in c]
        out = {'count': len(self.commands)}
        stamps = [c['stamp_ns'] for c in cmds if 'stamp_ns' in c]
        out['in_order'] = all(b > a_ for a_, b in zip(stamps, stamps[1:]))
        seqs = [c['seq'] for c in cmds if 'seq' in c]
        out['seq_contiguous'] = all(b == a_ + 1 for a_, b in zip(seqs, seqs[1:]))
        violations = []
        if limits and cmds and a.command_type in ('trajectory', 'array') and a.array_mode == 'position':
            tol = 1e-6
            pos_lim, vel_lim, acc_lim = limits.get('position'), limits.get('velocity'), limits.get('acceleration')
            prev_p = self.initial
            prev_v = [0.0] * len(self.joints)
            prev_stamp = None
            prev_ns = None
            for i, c in enumerate(cmds):
                p = c['values']
                # Commands with a header: the time between stamps; without one: one period a command
                # (arrival times jitter), unless they arrived after a pause.
                stamp = c['stamp_ns'] * 1e-9 if 'stamp_ns' in c else c['mono']
                gap = prev_stamp is None or abs(stamp - prev_stamp) > a.gap
                dt = period if gap or 'stamp_ns' not in c else (c['stamp_ns'] - prev_ns) * 1e-9
                v = [(x - y) / dt for x, y in zip(p, prev_p)]
                base_v = [0.0] * len(v) if gap else prev_v
                acc = [(x - y) / dt for x, y in zip(v, base_v)]
                for j in range(len(p)):
                    if not math.isfinite(p[j]):
                        violations.append({'i': i, 'joint': j, 'kind': 'nonfinite', 'value': None})
                        continue
                    if pos_lim and not (pos_lim[j][0] - tol <= p[j] <= pos_lim[j][1] + tol):
                        violations.append({'i': i, 'joint': j, 'kind': 'position', 'value': p[j]})
                    if vel_lim and abs(v[j]) > vel_lim[j] * (1 + tol) + tol:
                        violations.append({'i': i, 'joint': j, 'kind': 'velocity', 'value': v[j]})
                    if acc_lim and abs(acc[j]) > acc_lim[j] * (1 + tol) + tol:
                        violations.append({'i': i, 'joint': j, 'kind': 'acceleration', 'value': acc[j]})
                prev_p, prev_v, prev_stamp, prev_ns = p, v, stamp, c.get('stamp_ns')
        out['violations'] = violations[:50]
        out['violation_count'] = len(violations)
        intervals = [b['mono'] - a_['mono'] for a_, b in zip(cmds, cmds[1:])]
        # Intervals inside streaming segments (a pause longer than --gap splits segments).
        seg = [d for d in intervals if d <= a.gap]
        out['intervals'] = {
            'count': len(seg),
            'mean': (sum(seg) / len(seg)) if seg else None,
            'p50': percentile(seg, 0.5),
            'p99': percentile(seg, 0.99),
            'max': max(seg) if seg else None,
        }
        if period and seg:
            out['rate_hz'] = 1.0 / (sum(seg) / len(seg))
        return out

    def write_log(self):
        with self.lock:
            body = {
                'joints': self.joints,
                'initial': self.initial,
                'final_position': self.position,
                'states_published': self.states_published,
                'events': self.events,
                'checks': self.checks(),
                'commands': self.commands,
            }
        if self.args.log:
            tmp = self.args.log + '.tmp'
            with open(tmp, 'w') as f:
                json.dump(body, f)
            os.replace(tmp, self.args.log)


def main():
    parser = argparse.ArgumentParser(description='rospy robot for the flowpolicy ROS tests')
    parser.add_argument('--joints', default='j1,j2,j3')
    parser.add_argument('--initial', default='')
    parser.add_argument('--state-topic', default='/joint_states')
    parser.add_argument('--state-rate', type=float, default=100.0)
    parser.add_argument('--command-topic', default='/arm/command')
    parser.add_argument('--command-type', default='trajectory', choices=['trajectory', 'array', 'twist'])
    parser.add_argument('--array-mode', default='position', choices=['position', 'velocity'])
    parser.add_argument('--twist-axes', default='')
    parser.add_argument('--estop-topic', default='')
    parser.add_argument('--rate', type=float, default=0.0, help='expected control rate, Hz (for the checks)')
    parser.add_argument('--gap', type=float, default=0.25, help='a pause longer than this (s) splits streaming segments')
    parser.add_argument('--limits', default='', help='JSON {position: [[lo, hi]...], velocity: [...], acceleration: [...]}')
    parser.add_argument('--log', default='')
    parser.add_argument('--sensors', action='store_true', help='also publish /sensors/{pose,array,image,image/compressed}')
    args = parser.parse_args(rospy.myargv()[1:])

    rospy.init_node('robot', anonymous=False, disable_signals=True)
    robot = Robot(args)
    robot.stopping = threading.Event()

    stop_requested = stop_requests(robot.stopping)
    threading.Thread(target=robot.state_loop, daemon=True).start()
    threading.Thread(target=robot.stdin_loop, daemon=True).start()
    sys.stdout.write('READY\n')
    sys.stdout.flush()
    while not stop_requested():
        robot.stopping.wait(0.1)
    robot.stopping.set()
    robot.write_log()
    rospy.signal_shutdown('robot stopped')
    sys.stdout.write('LOGGED\n')
    sys.stdout.flush()


if __name__ == '__main__':
    main()
