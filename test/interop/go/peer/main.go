// A minimal memberlist 0.2.2 node used as the reference peer in interop tests.
//
// stdout: one JSON object per line — {"event":"ready",...}, join/leave/update events, replies to commands.
// stdin commands: "members", "meta <string>", "join <host:port>[,<host:port>...]", "leave",
// "send <node> best|reliable <string>" (a user message), "broadcast <string>" (a user message given to
// gossip once), "state <string>" (our push/pull user state). Received user messages and user state
// are printed as {"event":"msg"} and {"event":"state"}.
// stderr: memberlist's own log.
//
// Build (GOPATH mode, Debian packages): GOPATH=/usr/share/gocode GO111MODULE=off go build
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

var out = struct {
	sync.Mutex
	enc *json.Encoder
}{enc: json.NewEncoder(os.Stdout)}

func emit(v map[string]interface{}) {
	out.Lock()
	defer out.Unlock()
	_ = out.enc.Encode(v)
}

var stateNames = map[memberlist.NodeStateType]string{
	memberlist.StateAlive:   "alive",
	memberlist.StateSuspect: "suspect",
	memberlist.StateDead:    "dead",
	memberlist.StateLeft:    "left",
}

func nodeJSON(n *memberlist.Node) map[string]interface{} {
	return map[string]interface{}{
		"name":  n.Name,
		"addr":  n.Addr.String(),
		"port":  n.Port,
		"meta":  string(n.Meta),
		"state": stateNames[n.State],
		"vsn":   []int{int(n.PMin), int(n.PMax), int(n.PCur), int(n.DMin), int(n.DMax), int(n.DCur)},
	}
}

// delegate serves our metadata, user broadcasts and push/pull state, and reports what it receives.
type delegate struct {
	mu         sync.Mutex
	meta       []byte
	state      []byte
	broadcasts [][]byte
}

func (d *delegate) NodeMeta(limit int) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.meta) > limit {
		return d.meta[:limit]
	}
	return d.meta
}
func (d *delegate) NotifyMsg(b []byte) {
	emit(map[string]interface{}{"event": "msg", "data": string(b)})
}

// GetBroadcasts hands each queued message out once, as far as the limit allows.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out [][]byte
	for len(d.broadcasts) > 0 && len(d.broadcasts[0])+overhead <= limit {
		limit -= len(d.broadcasts[0]) + overhead
		out = append(out, d.broadcasts[0])
		d.broadcasts = d.broadcasts[1:]
	}
	return out
}

func (d *delegate) LocalState(join bool) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state
}

func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	emit(map[string]interface{}{"event": "state", "data": string(buf), "join": join})
}

type events struct{}

func (events) NotifyJoin(n *memberlist.Node)   { emitNode("join", n) }
func (events) NotifyLeave(n *memberlist.Node)  { emitNode("leave", n) }
func (events) NotifyUpdate(n *memberlist.Node) { emitNode("update", n) }

func emitNode(event string, n *memberlist.Node) {
	v := nodeJSON(n)
	v["event"] = event
	emit(v)
}

func fail(format string, args ...interface{}) {
	emit(map[string]interface{}{"event": "error", "error": fmt.Sprintf(format, args...)})
	os.Exit(1)
}

func splitList(s string) []string {
	var outList []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			outList = append(outList, p)
		}
	}
	return outList
}

func main() {
	def := memberlist.DefaultLANConfig()
	name := flag.String("name", "", "node name (required)")
	bind := flag.String("bind", "127.0.0.1", "bind/advertise IP")
	port := flag.Int("port", 0, "UDP+TCP port (0 = pick one)")
	key := flag.String("key", "", "base64 encryption key (16/24/32 bytes); empty = no encryption")
	join := flag.String("join", "", "comma-separated host:port seeds")
	meta := flag.String("meta", "", "node metadata")
	probeInterval := flag.Duration("probe-interval", def.ProbeInterval, "")
	probeTimeout := flag.Duration("probe-timeout", def.ProbeTimeout, "")
	gossipInterval := flag.Duration("gossip-interval", def.GossipInterval, "")
	suspicionMult := flag.Int("suspicion-mult", def.SuspicionMult, "")
	pushPullInterval := flag.Duration("pushpull-interval", def.PushPullInterval, "")
	flag.Parse()
	if *name == "" {
		fail("-name is required")
	}

	cfg := memberlist.DefaultLANConfig()
	cfg.Name = *name
	cfg.BindAddr = *bind
	cfg.BindPort = *port
	cfg.AdvertiseAddr = *bind
	cfg.ProbeInterval = *probeInterval
	cfg.ProbeTimeout = *probeTimeout
	cfg.GossipInterval = *gossipInterval
	cfg.SuspicionMult = *suspicionMult
	cfg.PushPullInterval = *pushPullInterval
	cfg.DelegateProtocolVersion = 0
	cfg.DelegateProtocolMin = 0
	cfg.DelegateProtocolMax = 0
	cfg.LogOutput = os.Stderr
	d := &delegate{meta: []byte(*meta)}
	cfg.Delegate = d
	cfg.Events = events{}
	if *key != "" {
		k, err := base64.StdEncoding.DecodeString(*key)
		if err != nil {
			fail("bad -key: %v", err)
		}
		cfg.SecretKey = k
	}

	ml, err := memberlist.Create(cfg)
	if err != nil {
		fail("create: %v", err)
	}
	// With port 0 the transport picked one; advertise it from now on.
	local := ml.LocalNode()
	emit(map[string]interface{}{"event": "ready", "name": local.Name, "addr": local.Addr.String(), "port": local.Port})

	if seeds := splitList(*join); len(seeds) > 0 {
		n, err := ml.Join(seeds)
		emit(map[string]interface{}{"event": "joined", "contacted": n, "error": errString(err)})
	}

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		line := strings.TrimSpace(in.Text())
		cmd, arg := line, ""
		if i := strings.IndexByte(line, ' '); i >= 0 {
			cmd, arg = line[:i], line[i+1:]
		}
		switch cmd {
		case "":
		case "members":
			var list []map[string]interface{}
			for _, n := range ml.Members() {
				list = append(list, nodeJSON(n))
			}
			emit(map[string]interface{}{"event": "members", "members": list})
		case "meta":
			d.mu.Lock()
			d.meta = []byte(arg)
			d.mu.Unlock()
			err := ml.UpdateNode(5 * time.Second)
			emit(map[string]interface{}{"event": "meta", "meta": arg, "error": errString(err)})
		case "join":
			n, err := ml.Join(splitList(arg))
			emit(map[string]interface{}{"event": "joined", "contacted": n, "error": errString(err)})
		case "send":
			parts := strings.SplitN(arg, " ", 3)
			if len(parts) != 3 {
				emit(map[string]interface{}{"event": "error", "error": "usage: send <node> best|reliable <text>"})
				continue
			}
			var target *memberlist.Node
			for _, n := range ml.Members() {
				if n.Name == parts[0] {
					target = n
				}
			}
			var err error
			if target == nil {
				err = fmt.Errorf("no member %s", parts[0])
			} else if parts[1] == "reliable" {
				err = ml.SendReliable(target, []byte(parts[2]))
			} else {
				err = ml.SendBestEffort(target, []byte(parts[2]))
			}
			emit(map[string]interface{}{"event": "sent", "error": errString(err)})
		case "broadcast":
			d.mu.Lock()
			d.broadcasts = append(d.broadcasts, []byte(arg))
			d.mu.Unlock()
			emit(map[string]interface{}{"event": "queued"})
		case "state":
			d.mu.Lock()
			d.state = []byte(arg)
			d.mu.Unlock()
			emit(map[string]interface{}{"event": "stateSet"})
		case "leave":
			err := ml.Leave(5 * time.Second)
			emit(map[string]interface{}{"event": "left", "error": errString(err)})
			_ = ml.Shutdown()
			os.Exit(0)
		default:
			emit(map[string]interface{}{"event": "error", "error": "unknown command: " + cmd})
		}
	}
	// stdin closed: the test harness is gone; leave quietly.
	_ = ml.Shutdown()
}

func errString(err error) interface{} {
	if err == nil {
		return nil
	}
	return err.Error()
}
