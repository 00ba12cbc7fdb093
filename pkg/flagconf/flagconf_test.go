package flagconf

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newSet() (*flag.FlagSet, *int, *string, *string) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	id := fs.Int("node-id", -1, "")
	dir := fs.String("data-dir", "", "")
	lvl := fs.String("log-level", "info", "")
	fs.String(ConfigFlag, "", "")
	return fs, id, dir, lvl
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.properties")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, "# comment\nnode.id=3\ndata-dir = /from/file\nlog.level: warn\n")
	fs, id, dir, lvl := newSet()
	err := Parse(fs, []string{"--config", file, "--node-id", "1"}, "STRATA_",
		env(map[string]string{"STRATA_NODE_ID": "2", "STRATA_DATA_DIR": "/from/env"}))
	if err != nil {
		t.Fatal(err)
	}
	if *id != 1 || *dir != "/from/env" || *lvl != "warn" {
		t.Fatalf("node-id %d data-dir %q log-level %q", *id, *dir, *lvl)
	}
}

func TestConfigFromEnv(t *testing.T) {
	file := writeFile(t, "node.id=7\n")
	fs, id, _, _ := newSet()
	if err := Parse(fs, nil, "STRATA_", env(map[string]string{"STRATA_CONFIG": file})); err != nil {
		t.Fatal(err)
	}
	if *id != 7 {
		t.Fatalf("node-id %d", *id)
	}
}

func TestErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"bad env value":   {env: map[string]string{"STRATA_NODE_ID": "x"}, want: "STRATA_NODE_ID"},
		"unknown setting": {args: []string{"--config", writeFile(t, "no.such=1\n")}, want: `unknown setting "no.such"`},
		"bad line":        {args: []string{"--config", writeFile(t, "justakey\n")}, want: "want key=value"},
		"bad file value":  {args: []string{"--config", writeFile(t, "node.id=abc\n")}, want: "node.id"},
		"missing file":    {args: []string{"--config", "/nonexistent/x"}, want: "no such file"},
		"bad flag":        {args: []string{"--node-id", "z"}, want: "invalid value"},
	} {
		t.Run(name, func(t *testing.T) {
			fs, _, _, _ := newSet()
			err := Parse(fs, tc.args, "STRATA_", env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func TestDispatch(t *testing.T) {
	var got []string
	cmds := map[string]Command{
		"run":    func(args []string) error { got = append([]string{"run"}, args...); return nil },
		"format": func([]string) error { return nil },
	}
	var out strings.Builder
	if err := Dispatch([]string{"run", "--x"}, "usage\n", &out, cmds); err != nil || strings.Join(got, " ") != "run --x" {
		t.Fatalf("err %v, ran %v", err, got)
	}
	if err := Dispatch(nil, "usage\n", &out, cmds); err != nil || out.String() != "usage\n" {
		t.Fatalf("err %v, printed %q", err, out.String())
	}
	err := Dispatch([]string{"nope"}, "", &out, cmds)
	if err == nil || err.Error() != `unknown command "nope": use format or run` {
		t.Fatalf("err %v", err)
	}
}
