package reconcile

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/go-connections/nat"
)

func TestCreateRequest(t *testing.T) {
	p := load(t, `
services:
  web:
    image: drover-hello:v1
    command: ["-x"]
    environment: {B: "2", A: "1", UNSET: null}
    ports: ["127.0.0.1:8080:80", "9090:90/udp"]
    expose: ["81"]
    volumes:
      - data:/data:ro
      - /tmp/host:/host
      - type: tmpfs
        target: /cache
      - /anon
    tmpfs: ["/run:size=1m"]
    networks:
      default:
      back: {aliases: [www]}
    labels: {team: core}
    restart: on-failure:3
    healthcheck:
      test: ["CMD", "/hello", "-probe", "http://127.0.0.1/healthz"]
      interval: 2s
      retries: 5
      start_interval: 1s
    stop_grace_period: 20s
    cpus: 0.5
    mem_limit: 64m
    ulimits: {nofile: {soft: 10, hard: 20}, nproc: 30}
    extra_hosts: ["gw:10.0.0.1"]
    init: true
volumes:
  data: {}
networks:
  back: {}
`, "")
	svc, _ := p.Service("web")
	req, warnings, err := newCreateRequest(specInput{project: p, service: svc, number: 2, revision: 3, apiVersion: "1.41"})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", what, got, want)
		}
	}
	c, h := req.Config, req.HostConfig
	check("name", req.Name, "demo-web-2")
	check("env", c.Env, []string{"A=1", "B=2"})
	check("cmd", []string(c.Cmd), []string{"-x"})
	check("labels", []string{c.Labels["team"], c.Labels[LabelProject], c.Labels[LabelService], c.Labels[LabelNumber], c.Labels[LabelRevision], c.Labels[LabelConfigHash], c.Labels[LabelOneOff]},
		[]string{"core", "demo", "web", "2", "3", svc.Hash, "False"})
	check("spec label", c.Labels[LabelSpec], string(svc.Spec))
	check("exposed", c.ExposedPorts, nat.PortSet{"80/tcp": {}, "90/udp": {}, "81/tcp": {}})
	check("bindings", h.PortBindings, nat.PortMap{
		"80/tcp": {{HostIP: "127.0.0.1", HostPort: "8080"}},
		"90/udp": {{HostIP: "", HostPort: "9090"}},
	})
	check("binds", h.Binds, []string{"/tmp/host:/host"})
	check("mounts", h.Mounts, []mount.Mount{
		{Type: mount.TypeVolume, Source: "demo_data", Target: "/data", ReadOnly: true, VolumeOptions: &mount.VolumeOptions{}},
		{Type: mount.TypeTmpfs, Target: "/cache"},
		{Type: mount.TypeVolume, Target: "/anon", VolumeOptions: &mount.VolumeOptions{}},
	})
	check("tmpfs", h.Tmpfs, map[string]string{"/run": "size=1m"})
	check("restart", h.RestartPolicy, container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3})
	check("health test", c.Healthcheck.Test, []string{"CMD", "/hello", "-probe", "http://127.0.0.1/healthz"})
	check("health interval", c.Healthcheck.Interval, 2*time.Second)
	check("health retries", c.Healthcheck.Retries, 5)
	check("start interval dropped", c.Healthcheck.StartInterval, time.Duration(0))
	if len(warnings) != 1 || !strings.Contains(warnings[0], "start_interval needs engine API 1.44") {
		t.Errorf("warnings %q, want one about start_interval", warnings)
	}
	check("stop timeout", *c.StopTimeout, 20)
	check("cpus", h.NanoCPUs, int64(5e8))
	check("memory", h.Memory, int64(64<<20))
	check("ulimits", len(h.Ulimits), 2)
	check("nproc single", []int64{h.Ulimits[1].Soft, h.Ulimits[1].Hard}, []int64{30, 30})
	check("extra hosts", h.ExtraHosts, []string{"gw:10.0.0.1"})
	check("init", *h.Init, true)
	check("network mode", string(h.NetworkMode), "demo_back")
	check("first network", req.Networking.EndpointsConfig["demo_back"].Aliases, []string{"web", "www", "demo-web-2-r3"})
	check("second network", req.ExtraNetworks["demo_default"].Aliases, []string{"web", "demo-web-2-r3"})

	newer, warnings, _ := newCreateRequest(specInput{project: p, service: svc, number: 1, revision: 1, apiVersion: "1.44"})
	check("start interval on 1.44", newer.Config.Healthcheck.StartInterval, time.Second)
	check("no warning on 1.44", len(warnings), 0)
}
