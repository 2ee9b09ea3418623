// Command fusioncast delivers a live stream to many viewers while the
// origin's bandwidth stays flat. Run `fusioncast help` for its subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"demo":    {"run the whole system on its built-in demo stream (127.0.0.1:8080)", runDemo},
	"origin":  {"serve a live stream (demo, an HLS folder or an HLS URL) over HTTP", runOrigin},
	"viewers": {"run N headless viewers against an origin and print a summary", runViewers},
	"tracker": {"run the websocket tracker (WebTorrent protocol + fusioncast extensions)", runTracker},
	"benchtracker": {"measure the tracker against the npm bittorrent-tracker: responses per CPU-second, memory per connection",
		runBenchTracker},
	"trackerload": {"load any WebTorrent websocket tracker: closed-loop announces with offers, answers",
		runTrackerLoad},
	"benchpeers": {"measure origin copies per segment, stalls and latency: N Go viewers as HTTP clients, then as peers",
		runBenchPeers},
	"benchserve": {"measure HTTP serving speed of the origin against nginx (bytes per CPU-second)", runBenchServe},
	"benchegress": {"measure origin egress per segment for N viewers (the baseline the swarm flattens)",
		runBenchEgress},
	"simulate": {"run the peer engine for thousands of viewers on a simulated network, in virtual time", runSimulate},
	"relay":    {"relay agent for a LAN: the origin's multicast in, its stream out over HTTP (and to the swarm)", runRelay},
	"mcast": {"multicast tools: `mcast recv` joins an origin's group and writes the verified segments to a folder",
		runMcast},
	"benchrelay": {"measure how many WebRTC viewers one relay core seeds: every segment within its period, relay CPU",
		runBenchRelay},
}

// errUsage means the command line was wrong; the message was printed.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "fusioncast:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return commandSet{prog: "fusioncast", noun: "command", width: 12, cmds: commands,
		footer: "Run `fusioncast <command> -h` for a command's flags."}.run(ctx, args, stdout, stderr)
}

// commandSet is a level of subcommands: fusioncast's commands, and the
// subcommands of `fusioncast mcast`.
type commandSet struct {
	prog   string // what the usage names: "fusioncast", "fusioncast mcast"
	noun   string // "command", "subcommand"
	width  int    // of the names column in the usage
	footer string // the usage's last line
	cmds   map[string]command
}

// run runs the subcommand args[0] with the rest of args, or prints the
// usage (to stdout when asked for it, to stderr for an unknown name).
func (s commandSet) run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		s.usage(stdout)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	c, ok := s.cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "%s: unknown %s %q\n\n", s.prog, s.noun, args[0])
		s.usage(stderr)
		return errUsage
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

func (s commandSet) usage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s <%s> [flags]\n\n%ss:\n", s.prog, s.noun, s.noun)
	names := make([]string, 0, len(s.cmds))
	for n := range s.cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-*s %s\n", s.width, n, s.cmds[n].summary)
	}
	fmt.Fprintln(w, "\n"+s.footer)
}

// newFlags returns a flag set that reports errors without exiting.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: fusioncast %s %s\n\nflags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args and rejects positional arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "fusioncast %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}

// newLogger returns a text logger at the named level.
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, fmt.Errorf("bad log level %q (want debug, info, warn or error)", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}
