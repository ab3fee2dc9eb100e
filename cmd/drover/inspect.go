package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/drover/drover/compose"
	"github.com/drover/drover/reconcile"
)

// psRow is one container as ps shows it.
type psRow struct {
	Name     string   `json:"name"`
	Service  string   `json:"service"`
	Number   int      `json:"number"`
	Revision int      `json:"revision"`
	Role     string   `json:"role"` // serving, kept, orphan
	State    string   `json:"state"`
	Health   string   `json:"health,omitempty"`
	Image    string   `json:"image"`
	ID       string   `json:"id"`
	Ports    []string `json:"ports"`
}

func psCommand() command {
	return command{
		name: "ps", args: "[SERVICE...]",
		summary: "List the project's containers: service, number, revision, state, health, ports.",
		example: "  drover ps\n  drover -p mystack ps -a --format json",
		flags: func(fs *pflag.FlagSet) func(context.Context, *app, []string) error {
			all := fs.BoolP("all", "a", false, "also show the containers kept for a rollback")
			format := fs.String("format", "table", "output format: table or json")
			return func(ctx context.Context, a *app, args []string) error {
				if err := checkFormat(*format); err != nil {
					return err
				}
				s, obs, err := a.openObserved(ctx, filesOptional, false, args)
				if err != nil {
					return err
				}
				defer s.close()
				rows := psRows(obs, s.serviceOrder(obs), args, *all)
				if *format == "json" {
					return writeJSON(a.stdout, rows)
				}
				return psTable(a.stdout, rows)
			}
		},
	}
}

func psRows(obs reconcile.Observed, known []string, services []string, all bool) []psRow {
	want := map[string]bool{}
	for _, s := range services {
		want[s] = true
	}
	rows := []psRow{}
	if px := obs.Proxy; px != nil && len(want) == 0 {
		r := psRow{Name: px.Name, Service: dash(strings.Join(reconcile.BalancersOf(px), ",")), Role: "proxy", State: px.State, Image: px.Image, ID: shortID(px.ID), Ports: []string{}}
		for _, p := range px.Ports {
			r.Ports = append(r.Ports, p.String())
		}
		// Its published ports are opened by its launcher, on the host.
		r.Ports = append(r.Ports, reconcile.LauncherPorts(obs.ProxyPorts)...)
		sort.Strings(r.Ports)
		rows = append(rows, r)
	}
	if l := obs.ProxyPorts; l != nil && len(want) == 0 {
		rows = append(rows, psRow{Name: l.Name, Service: "-", Role: "proxy-ports", State: l.State, Image: l.Image, ID: shortID(l.ID), Ports: []string{}})
	}
	roles := reconcile.Roles(obs, known)
	for _, c := range obs.Containers {
		if len(want) > 0 && !want[c.Service] {
			continue
		}
		role := roles[c.ID]
		if role == reconcile.Kept && !all {
			continue
		}
		r := psRow{Name: c.Name, Service: c.Service, Number: c.Number, Revision: c.Revision, Role: string(role),
			State: c.State, Health: c.Health, Image: c.Image, ID: shortID(c.ID), Ports: []string{}}
		for _, p := range c.Ports {
			r.Ports = append(r.Ports, p.String())
		}
		sort.Strings(r.Ports)
		rows = append(rows, r)
	}
	return rows
}

func psTable(w io.Writer, rows []psRow) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSERVICE\t#\tREV\tROLE\tSTATE\tHEALTH\tIMAGE\tPORTS")
	for _, r := range rows {
		health := r.Health
		if health == "" {
			health = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Service, r.Number, r.Revision, r.Role, r.State, health, r.Image, strings.Join(r.Ports, ", "))
	}
	return tw.Flush()
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func configCommand() command {
	return command{
		name: "config", args: "",
		summary: "Print the resolved project as YAML: files merged, variables interpolated, with each service's scale and upgrade policy under x-drover.",
		example: "  drover config\n  drover config --services\n  drover --answers answers.txt config --questions",
		flags: func(fs *pflag.FlagSet) func(context.Context, *app, []string) error {
			services := fs.Bool("services", false, "print the service names, one a line, in dependency order")
			questions := fs.Bool("questions", false, "print a catalog entry's questions with the value each resolves to and where it comes from (passwords masked)")
			return func(ctx context.Context, a *app, args []string) error {
				if len(args) > 0 {
					return usageError{"config takes no arguments"}
				}
				p, err := loadOnly(ctx, a)
				if err != nil {
					return err
				}
				if *questions {
					printQuestions(a.stdout, p)
					return nil
				}
				if *services {
					for _, s := range p.Services {
						fmt.Fprintln(a.stdout, s.Name)
					}
					return nil
				}
				out, err := p.MarshalYAML()
				if err != nil {
					return err
				}
				_, err = a.stdout.Write(out)
				return err
			}
		},
	}
}

// loadOnly loads the project without reaching the engine.
func loadOnly(ctx context.Context, a *app) (*compose.Project, error) {
	p, err := compose.Load(ctx, a.files)
	if err != nil {
		return nil, err
	}
	a.warn(p)
	return p, nil
}

// printQuestions prints a catalog entry's questions, one a line, with the
// value each resolved to (a password's masked) and where it came from.
func printQuestions(w io.Writer, p *compose.Project) {
	if len(p.Questions) == 0 {
		fmt.Fprintln(w, "no catalog questions (the rancher-compose file has no .catalog section with questions)")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tTYPE\tVALUE\tFROM\tLABEL")
	for _, q := range p.Questions {
		value := q.Shown()
		if strings.ContainsAny(value, "\n\t") || value == "" {
			value = strconv.Quote(value)
		}
		from := q.Source
		if from == "" {
			from = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", q.Variable, q.Type, value, from, q.Label)
	}
	tw.Flush()
}
