package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/strata-log/strata/pkg/client"
)

func configsCommand() *command {
	return group("configs", "describe and alter topic and broker configs", configsDescribe(), configsAlter())
}

// entityFlags name the config resources, with kafka-configs' flags.
type entityFlags struct {
	typ  string
	name string
	def  bool
}

func (e *entityFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&e.typ, "entity-type", "", "`TYPE` topics or brokers (required)")
	fs.StringVar(&e.name, "entity-name", "", "`NAME` the topic, or the broker's id")
	fs.BoolVar(&e.def, "entity-default", false, "the cluster-wide broker defaults (with --entity-type brokers)")
}

// resource checks the flags and names the one resource they give; none is
// true when no entity is named (describe then takes every entity).
func (e *entityFlags) resource(s *session) (r client.ConfigResource, none bool, err error) {
	switch e.typ {
	case "":
		return r, false, s.usage("--entity-type is required")
	case "topics":
		if e.def {
			return r, false, s.usage("--entity-default is for --entity-type brokers")
		}
		if e.name == "" {
			return r, true, nil
		}
		return client.TopicResource(e.name), false, nil
	case "brokers":
		switch {
		case e.def && e.name != "":
			return r, false, s.usage("--entity-name and --entity-default are both set; use one")
		case e.def:
			return client.BrokerDefaultResource(), false, nil
		case e.name == "":
			return r, true, nil
		}
		id, err := strconv.ParseInt(e.name, 10, 32)
		if err != nil || id < 0 {
			return r, false, s.usage("--entity-name %q is not a broker id", e.name)
		}
		return client.BrokerResource(int32(id)), false, nil
	default:
		return r, false, s.usage("--entity-type %q: use topics or brokers", e.typ)
	}
}

func configsDescribe() *command {
	return &command{
		name: "describe", summary: "describe configs", admin: true,
		synopsis: "strata configs describe --entity-type topics|brokers [--entity-name NAME | --entity-default] [--all]",
		help: `Describe the configs of a topic, a broker or the cluster-wide broker
defaults (every topic or every broker without --entity-name), as
kafka-configs --describe prints them:

Dynamic configs for topic T are:
  min.insync.replicas=2 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:min.insync.replicas=2}

Only the configs set on the entity are listed, unless --all lists every
config with its value and where the value comes from.`,
		setup: func(fs *flag.FlagSet, s *session) func(context.Context) error {
			var e entityFlags
			e.register(fs)
			all := fs.Bool("all", false, "list every config, defaults included")
			return func(ctx context.Context) error {
				r, every, err := e.resource(s)
				if err != nil {
					return err
				}
				admin, err := s.admin()
				if err != nil {
					return err
				}
				ctx, cancel := s.withTimeout(ctx)
				defer cancel()
				resources := []client.ConfigResource{r}
				if every {
					if resources, err = everyEntity(ctx, admin, e.typ); err != nil {
						return err
					}
				}
				if len(resources) == 0 {
					return nil
				}
				res, err := admin.DescribeConfigs(ctx, resources)
				if err != nil {
					return err
				}
				if err := res.FirstError(); err != nil {
					if !every && r.Type == client.ResourceTopic {
						return topicMissing(err, r.Name, false)
					}
					return err
				}
				for _, rc := range res {
					writeConfigs(s.stdout(), rc, *all)
				}
				return nil
			}
		},
	}
}

// everyEntity lists every topic or every broker.
func everyEntity(ctx context.Context, admin Admin, typ string) ([]client.ConfigResource, error) {
	var out []client.ConfigResource
	if typ == "topics" {
		topics, err := admin.ListTopics(ctx, client.IncludeInternal())
		if err != nil {
			return nil, err
		}
		for _, t := range topics {
			out = append(out, client.TopicResource(t.Name))
		}
		return out, nil
	}
	cl, err := admin.DescribeCluster(ctx)
	if err != nil {
		return nil, err
	}
	for _, b := range cl.Brokers {
		out = append(out, client.BrokerResource(b.ID))
	}
	return out, nil
}

// writeConfigs prints one resource's configs as kafka-configs --describe.
func writeConfigs(w io.Writer, rc client.ResourceConfigs, all bool) {
	kind := "Dynamic"
	if all {
		kind = "All"
	}
	switch {
	case rc.Resource.Type == client.ResourceBroker && rc.Resource.Name == "":
		if all {
			fmt.Fprintln(w, "All default configs for brokers in the cluster are:")
		} else {
			fmt.Fprintln(w, "Default configs for brokers in the cluster are:")
		}
	case rc.Resource.Type == client.ResourceBroker:
		fmt.Fprintf(w, "%s configs for broker %s are:\n", kind, rc.Resource.Name)
	default:
		fmt.Fprintf(w, "%s configs for topic %s are:\n", kind, rc.Resource.Name)
	}
	own := ownSource(rc.Resource)
	for _, c := range rc.Configs {
		if !all && c.Source != own {
			continue
		}
		value := c.Value
		if c.Sensitive {
			value = "null"
		}
		fmt.Fprintf(w, "  %s=%s sensitive=%t synonyms={%s:%s=%s}\n", c.Name, value, c.Sensitive, c.Source, c.Name, value)
	}
}

// ownSource is the source of the configs set on the resource itself, the
// only ones listed without --all (as kafka-configs does).
func ownSource(r client.ConfigResource) client.ConfigSource {
	switch {
	case r.Type == client.ResourceBroker && r.Name == "":
		return client.SourceDynamicDefaultBroker
	case r.Type == client.ResourceBroker:
		return client.SourceDynamicBroker
	default:
		return client.SourceDynamicTopic
	}
}

func configsAlter() *command {
	return &command{
		name: "alter", summary: "set and delete configs", admin: true,
		synopsis: "strata configs alter --entity-type topics|brokers (--entity-name NAME | --entity-default) [--add-config k=v,k2=v2] [--delete-config k,k2]",
		help: `Set and delete configs of a topic, a broker or the cluster-wide broker
defaults, all or none, and print "Completed updating config for topic T."
as kafka-configs --alter does. A value with commas goes in square
brackets: --add-config 'cleanup.policy=[compact,delete]'. A deleted config
takes its default again.`,
		setup: func(fs *flag.FlagSet, s *session) func(context.Context) error {
			var e entityFlags
			e.register(fs)
			add := fs.String("add-config", "", "`k=v,k2=[a,b]` configs to set")
			del := fs.String("delete-config", "", "`k,k2` configs to delete")
			return func(ctx context.Context) error {
				r, none, err := e.resource(s)
				if err != nil {
					return err
				}
				if none {
					return s.usage("--entity-name is required (or --entity-default for brokers)")
				}
				if *add == "" && *del == "" {
					return s.usage("--add-config or --delete-config is required")
				}
				ops, err := parseAlterOps(*add, *del)
				if err != nil {
					return s.usage("%v", err)
				}
				admin, err := s.admin()
				if err != nil {
					return err
				}
				ctx, cancel := s.withTimeout(ctx)
				defer cancel()
				err = firstError(admin.IncrementalAlterConfigs(ctx, []client.AlterConfigs{{Resource: r, Ops: ops}}))
				if r.Type == client.ResourceTopic {
					err = topicMissing(err, r.Name, false)
				}
				if err != nil {
					return err
				}
				switch {
				case r.Type == client.ResourceBroker && r.Name == "":
					fmt.Fprintln(s.stdout(), "Completed updating default config for brokers in the cluster.")
				case r.Type == client.ResourceBroker:
					fmt.Fprintf(s.stdout(), "Completed updating config for broker %s.\n", r.Name)
				default:
					fmt.Fprintf(s.stdout(), "Completed updating config for topic %s.\n", r.Name)
				}
				return nil
			}
		},
	}
}

// parseAlterOps turns --add-config and --delete-config into changes: the
// sets in the order given, then the deletes.
func parseAlterOps(add, del string) ([]client.AlterConfigOp, error) {
	var ops []client.AlterConfigOp
	set := make(map[string]bool)
	for _, item := range splitConfigList(add) {
		k, v, ok := strings.Cut(item, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("--add-config: %q is not KEY=VALUE", item)
		}
		if set[k] {
			return nil, fmt.Errorf("--add-config: %s is given twice", k)
		}
		set[k] = true
		v = strings.TrimSpace(v)
		if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
			v = v[1 : len(v)-1]
		}
		ops = append(ops, client.SetConfig(k, v))
	}
	deleted := make(map[string]bool)
	for _, k := range splitList(del) {
		if set[k] {
			return nil, fmt.Errorf("%s is both in --add-config and --delete-config", k)
		}
		if deleted[k] {
			continue
		}
		deleted[k] = true
		ops = append(ops, client.DeleteConfig(k))
	}
	return ops, nil
}

// splitConfigList splits "a=1,b=[x,y],c=2" on the commas outside square
// brackets.
func splitConfigList(s string) []string {
	var out []string
	depth, start := 0, 0
	flush := func(end int) {
		if item := strings.TrimSpace(s[start:end]); item != "" {
			out = append(out, item)
		}
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			depth = max(0, depth-1)
		case ',':
			if depth == 0 {
				flush(i)
				start = i + 1
			}
		}
	}
	flush(len(s))
	return out
}
