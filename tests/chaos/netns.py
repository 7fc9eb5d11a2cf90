"""netns.py -- the chaos suite's hosts: one Linux network namespace per node.

Why: faults injected by a node itself (DYNAMO.FAULT) only break what the node
chooses to break.  Real hosts lose packets in the kernel, under a process
that knows nothing of it.  So each node gets a host of its own:

      ns <prefix>-n1  eth0 198.18.R.1 --veth-- v1 \
      ns <prefix>-n2  eth0 198.18.R.2 --veth-- v2  +- br0 in ns <prefix>-br
      ...                                         /
      ns <prefix>-c   eth0 198.18.R.200 -veth- vc

Invariants:
  - Nothing is created in the root namespace: the bridge lives in a
    namespace of its own, each veth is created inside it with its peer end
    moved straight into the host's namespace.  The host's interfaces and
    routes are never touched.
  - Addresses come from 198.18.0.0/15 (RFC 2544, benchmarking), one /24
    per run; no namespace has a default route, so nothing can leave.
  - Names carry the harness's PID, so parallel runs do not collide, and a
    killed run's leftovers can be found (remove_leftovers).
  - Links are cut with nft in the nodes' namespaces: table inet chaos, with
    an input and an output chain; heal() flushes both chains everywhere.
  - close() removes every namespace it made (deleting a namespace removes
    its veths and rules); callers run it from finally/atexit/signals.

Errors: a failed ip/nft command raises NetError with its stderr.
Not thread-safe: one thread (the nemesis) changes links at a time.
"""

import ctypes
import os
import shutil
import subprocess

CLONE_NEWNET = 0x40000000


class NetError(Exception):
    pass


def sh(args, check=True):
    """Runs a command (a list), returns its stdout; raises NetError."""
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if check and p.returncode != 0:
        raise NetError("%s: %s" % (" ".join(args), p.stderr.strip()))
    return p.stdout


def can_create():
    """None when namespaces can be made here, else why not (a skip)."""
    if os.geteuid() != 0:
        return "not root: network namespaces need CAP_SYS_ADMIN"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return "%s not found (apt-get install %s)" % (
                tool, "iproute2" if tool == "ip" else "nftables")
    probe = "dynchaos-probe-%d" % os.getpid()
    p = subprocess.run(["ip", "netns", "add", probe], stderr=subprocess.PIPE,
                       text=True)
    if p.returncode != 0:
        return "ip netns add failed: " + p.stderr.strip()
    try:
        q = subprocess.run(["ip", "netns", "exec", probe, "nft", "add",
                            "table", "inet", "probe"],
                           stderr=subprocess.PIPE, text=True)
        if q.returncode != 0:
            return "nft in a namespace failed: " + q.stderr.strip()
    finally:
        subprocess.run(["ip", "netns", "del", probe])
    return None


def remove_leftovers(pid):
    """Deletes the namespaces of a run with harness PID pid (after a kill -9
    of the harness, from the shell's trap)."""
    prefix = "dynchaos%d-" % pid
    for line in sh(["ip", "netns", "list"], check=False).splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(prefix):
            sh(["ip", "netns", "del", name], check=False)


class Net:
    """The namespaces of one run.  Hosts are named by index: node i has
    address base.i; the client host is base.200."""

    CLIENT = 200

    def __init__(self, run_octet=None):
        self.pid = os.getpid()
        self.prefix = "dynchaos%d-" % self.pid
        octet = run_octet if run_octet is not None else self.pid % 250
        self.base = "198.18.%d" % octet
        self.made = []          # namespaces, in creation order
        self.hosts = {}         # index -> namespace name
        self.cuts = set()       # (a, b): traffic from a to b is dropped
        self.ns(self.prefix + "br")
        sh(["ip", "-n", self.prefix + "br", "link", "add", "br0",
            "type", "bridge"])
        sh(["ip", "-n", self.prefix + "br", "link", "set", "br0", "up"])

    def ns(self, name):
        sh(["ip", "netns", "add", name])
        self.made.append(name)
        sh(["ip", "-n", name, "link", "set", "lo", "up"])
        return name

    def addr(self, i):
        return "%s.%d" % (self.base, i)

    def host(self, i):
        """Namespace of host i, made on first use: veth to the bridge,
        its address, and the nft table with empty chains."""
        if i in self.hosts:
            return self.hosts[i]
        name = self.ns(self.prefix + ("c" if i == self.CLIENT else "n%d" % i))
        br = self.prefix + "br"
        veth = "v%d" % i
        sh(["ip", "-n", br, "link", "add", veth, "type", "veth",
            "peer", "name", "eth0", "netns", name])
        sh(["ip", "-n", br, "link", "set", veth, "master", "br0", "up"])
        sh(["ip", "-n", name, "addr", "add", self.addr(i) + "/24",
            "dev", "eth0"])
        sh(["ip", "-n", name, "link", "set", "eth0", "up"])
        self.hosts[i] = name
        if i == self.CLIENT:
            return name
        self.nft(i, "add table inet chaos\n"
                 "add chain inet chaos input { type filter hook input "
                 "priority 0; policy accept; }\n"
                 "add chain inet chaos output { type filter hook output "
                 "priority 0; policy accept; }\n")
        return name

    def exec_args(self, i):
        """Prefix that runs a command inside host i's namespace."""
        return ["ip", "netns", "exec", self.host(i)]

    def nft(self, i, script):
        p = subprocess.run(["ip", "netns", "exec", self.hosts[i], "nft", "-f", "-"],
                           input=script, text=True, stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise NetError("nft in host %d: %s" % (i, p.stderr.strip()))

    def enter_client(self):
        """Moves this thread (call it before starting any other) into the
        client host, so that every socket the harness opens from now on
        is on the bridge.  Children started with exec_args go elsewhere."""
        name = self.host(self.CLIENT)
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open("/run/netns/" + name, os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise NetError("setns: " + os.strerror(ctypes.get_errno()))
        finally:
            os.close(fd)

    def cut(self, a, b):
        """Drops what host a sends to host b (one direction)."""
        if (a, b) in self.cuts:
            return
        self.nft(a, "add rule inet chaos output ip daddr %s drop\n"
                 % self.addr(b))
        self.nft(b, "add rule inet chaos input ip saddr %s drop\n"
                 % self.addr(a))
        self.cuts.add((a, b))

    def cut_both(self, a, b):
        self.cut(a, b)
        self.cut(b, a)

    def partition(self, groups):
        """Cuts every link between hosts of different groups."""
        for gi, g in enumerate(groups):
            for h in groups[gi + 1:]:
                for a in g:
                    for b in h:
                        self.cut_both(a, b)

    def heal(self):
        for i in self.hosts:
            if i != self.CLIENT:
                self.nft(i, "flush chain inet chaos input\n"
                         "flush chain inet chaos output\n")
        self.cuts.clear()

    def close(self):
        for name in reversed(self.made):
            sh(["ip", "netns", "del", name], check=False)
        self.made = []
        self.hosts = {}
