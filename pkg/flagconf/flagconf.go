// Package flagconf fills a flag.FlagSet from three sources, as Strata's
// daemons take their settings: command-line flags, STRATA_* environment
// variables and an optional properties file (--config FILE). Flags win over
// the environment, which wins over the file, which wins over defaults.
//
// A flag named "node-id" is read from STRATA_NODE_ID and, in the file, from
// either "node-id" or Kafka's dotted spelling "node.id".
package flagconf

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// ConfigFlag is the name of the flag that names the properties file.
const ConfigFlag = "config"

// Parse parses args into fs, then sets every flag not given on the command
// line from the environment (prefix + upper-cased name with '_' for '-') or
// from the file named by the --config flag, when fs defines one. lookupEnv
// is os.LookupEnv in production.
func Parse(fs *flag.FlagSet, args []string, prefix string, lookupEnv func(string) (string, bool)) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var file map[string]string
	if f := fs.Lookup(ConfigFlag); f != nil {
		path := f.Value.String()
		if !set[ConfigFlag] {
			if v, ok := lookupEnv(EnvName(prefix, ConfigFlag)); ok {
				path = v
			}
		}
		if path != "" {
			var err error
			if file, err = ReadProperties(path); err != nil {
				return err
			}
			for key := range file {
				name := strings.ReplaceAll(key, ".", "-")
				if fs.Lookup(name) == nil {
					return fmt.Errorf("%s: unknown setting %q", path, key)
				}
			}
		}
	}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || f.Name == ConfigFlag {
			return
		}
		env := EnvName(prefix, f.Name)
		if v, ok := lookupEnv(env); ok {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("environment variable %s=%q: %w", env, v, err))
			}
			return
		}
		for _, key := range []string{f.Name, strings.ReplaceAll(f.Name, "-", ".")} {
			if v, ok := file[key]; ok {
				if err := f.Value.Set(v); err != nil {
					errs = append(errs, fmt.Errorf("config file setting %s=%q: %w", key, v, err))
				}
				return
			}
		}
	})
	return errors.Join(errs...)
}

// EnvName is the environment variable for a flag: STRATA_NODE_ID for
// "node-id" with prefix "STRATA_".
func EnvName(prefix, flagName string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// ReadProperties reads a Java-style properties file: key=value (or
// key: value) lines, '#' and '!' comments, blank lines ignored.
func ReadProperties(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	props := make(map[string]string)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i <= 0 {
			return nil, fmt.Errorf("%s:%d: want key=value, got %q", path, n, line)
		}
		props[strings.TrimSpace(line[:i])] = strings.TrimSpace(line[i+1:])
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return props, nil
}
