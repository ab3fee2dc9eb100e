package engine

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/drover/drover/reconcile"
)

// registryAuth is the engine's X-Registry-Auth for ref: the credentials the
// Docker CLI's configuration holds for ref's registry (~/.docker/config.json
// or $DOCKER_CONFIG, credential helpers and stores included), read through
// the CLI's own config package as docker compose does. Empty when there
// are none. The configuration is read once per run.
func (d *Docker) registryAuth(ref string) (auth string, user string, err error) {
	d.authOnce.Do(func() {
		d.authFile, d.authErr = config.Load(config.Dir())
		if d.authErr != nil {
			d.authErr = fmt.Errorf("reading the Docker CLI configuration in %s: %w", config.Dir(), d.authErr)
		}
	})
	if d.authErr != nil {
		return "", "", d.authErr
	}
	host := registryHost(ref)
	ac, err := d.authFile.GetAuthConfig(authKey(host))
	if err != nil {
		return "", "", fmt.Errorf("credentials for %s from %s: %w", host, credentialSource(d.authFile, host), err)
	}
	if ac.Username == "" && ac.Password == "" && ac.IdentityToken == "" && ac.RegistryToken == "" && ac.Auth == "" {
		return "", "", nil
	}
	data, err := json.Marshal(registry.AuthConfig{
		Username: ac.Username, Password: ac.Password, Auth: ac.Auth, ServerAddress: ac.ServerAddress,
		IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken,
	})
	if err != nil {
		return "", "", err
	}
	return base64.URLEncoding.EncodeToString(data), ac.Username, nil
}

// registryHost is the registry a reference names (docker.io for none).
func registryHost(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	return reference.Domain(named)
}

// authKey is where the CLI's configuration keeps a registry's credentials:
// Docker Hub's under its historical index address, the others under their
// host name.
func authKey(host string) string {
	if host == "docker.io" || host == "index.docker.io" {
		return "https://index.docker.io/v1/"
	}
	return host
}

// credentialSource says where the credentials of host come from, for
// messages (never the credentials themselves).
func credentialSource(f *configfile.ConfigFile, host string) string {
	if h := f.CredentialHelpers[authKey(host)]; h != "" {
		return "the credential helper docker-credential-" + h
	}
	if f.CredentialsStore != "" {
		return "the credential store docker-credential-" + f.CredentialsStore
	}
	return f.Filename
}

// PullImage pulls ref with the credentials the Docker CLI has for its
// registry, reporting progress (layers and bytes) as it goes. Its error does
// not repeat the reference: the step that called it names the image ("pull
// web:v2: ..."). A pull that fails leaves the engine's tags as they were.
func (d *Docker) PullImage(ctx context.Context, ref string, progress func(reconcile.Progress)) error {
	auth, user, err := d.registryAuth(ref)
	if err != nil {
		return err
	}
	rc, err := d.c.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: auth})
	if err == nil {
		err = followProgress(rc, progress)
		rc.Close()
	}
	if err != nil {
		return d.pullError(ctx, ref, user, err)
	}
	return nil
}

// PushImage pushes ref to its registry with the Docker CLI's credentials.
func (d *Docker) PushImage(ctx context.Context, ref string, progress func(reconcile.Progress)) error {
	auth, user, err := d.registryAuth(ref)
	if err != nil {
		return err
	}
	if auth == "" {
		auth = base64.URLEncoding.EncodeToString([]byte("{}")) // the engine wants the header on a push
	}
	rc, err := d.c.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: auth})
	if err == nil {
		err = followProgress(rc, progress)
		rc.Close()
	}
	if err != nil {
		return registryError(ref, user, err)
	}
	return nil
}

// TagDigests asks the registry, without pulling, for the manifest digest
// its tag ref names now (the engine's distribution inspect endpoint), and
// returns it with the digests the engine's copy of the tag was pulled as
// (none for an image built here or absent).
func (d *Docker) TagDigests(ctx context.Context, ref string) (local []string, remote string, err error) {
	if img, err := d.c.ImageInspect(ctx, ref); err == nil {
		local = img.RepoDigests
	}
	auth, user, err := d.registryAuth(ref)
	if err != nil {
		return local, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	di, err := d.c.DistributionInspect(ctx, ref, auth)
	if err != nil {
		return local, "", registryError(ref, user, err)
	}
	return local, string(di.Descriptor.Digest), nil
}

// LastTagged is when the engine last set the tag ref (a pull or a tag), the
// clock that pull_policy daily, weekly and every_<duration> go by; zero when
// the engine does not say.
func (d *Docker) LastTagged(ctx context.Context, ref string) (time.Time, error) {
	img, err := d.c.ImageInspect(ctx, ref)
	if err != nil {
		return time.Time{}, err
	}
	return img.Metadata.LastTagTime, nil
}

// registryError says in one line what the registry of ref answered: a
// refused login names the registry and the user (never the password).
func registryError(ref, user string, err error) error {
	cause := strings.TrimPrefix(err.Error(), "Error response from daemon: ")
	host := registryHost(ref)
	switch {
	case unauthorized(cause) && user != "":
		return fmt.Errorf("the registry %s refused the login of %q (credentials from the Docker CLI configuration; run docker login %s): %s", host, user, host, cause)
	case unauthorized(cause):
		return fmt.Errorf("the registry %s wants a login and the Docker CLI configuration has none for it (run docker login %s): %s", host, host, cause)
	case unreachable(cause):
		return fmt.Errorf("the registry %s did not answer: %s", host, cause)
	}
	return errors.New(cause)
}

func unauthorized(msg string) bool {
	for _, s := range []string{"unauthorized", "authentication required", "no basic auth credentials", "incorrect username or password"} {
		if strings.Contains(strings.ToLower(msg), s) {
			return true
		}
	}
	return false
}

// layer is one layer of a pull or push as the engine's stream shows it.
type layer struct {
	total, current int64
	done           bool
}

// progressTracker folds the engine's per-layer stream into one Progress
// per image.
type progressTracker struct {
	layers map[string]*layer
	order  []string
}

// update takes one message; it reports whether a layer finished (worth
// reporting at once).
func (t *progressTracker) update(m jsonmessage.JSONMessage) bool {
	if m.ID == "" || !layerStatus(m.Status) {
		return false // "v1: Pulling from ...", "Digest: ...", "v1: digest: ... size: ...": not a layer
	}
	l := t.layers[m.ID]
	if l == nil {
		l = &layer{}
		t.layers[m.ID] = l
		t.order = append(t.order, m.ID)
	}
	if m.Progress != nil && m.Progress.Total > 0 && !strings.HasPrefix(m.Status, "Extracting") {
		l.total, l.current = m.Progress.Total, m.Progress.Current
	}
	switch {
	case m.Status == "Pull complete", m.Status == "Already exists", m.Status == "Pushed",
		m.Status == "Layer already exists", strings.HasPrefix(m.Status, "Mounted from"):
		if !l.done {
			l.done = true
			l.current = l.total
			return true
		}
	case m.Status == "Download complete":
		l.current = l.total
	}
	return false
}

// layerStatus reports whether a stream message is about one layer.
func layerStatus(status string) bool {
	for _, s := range []string{"Pulling fs layer", "Waiting", "Downloading", "Verifying Checksum", "Download complete",
		"Extracting", "Pull complete", "Already exists", "Preparing", "Pushing", "Pushed", "Layer already exists", "Mounted from"} {
		if strings.HasPrefix(status, s) {
			return true
		}
	}
	return false
}

func (t *progressTracker) progress() reconcile.Progress {
	var p reconcile.Progress
	for _, id := range t.order {
		l := t.layers[id]
		p.Layers++
		p.Bytes += l.total
		p.BytesDone += l.current
		if l.done {
			p.LayersDone++
		}
	}
	return p
}

// followProgress drains a pull or push stream, reports aggregated progress
// (at once when a layer finishes, else at most every half second, and once
// at the end) and returns the error the stream carries, if any.
func followProgress(r io.Reader, report func(reconcile.Progress)) error {
	if report == nil {
		report = func(reconcile.Progress) {}
	}
	t := &progressTracker{layers: map[string]*layer{}}
	var last time.Time
	dec := json.NewDecoder(r)
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); err == io.EOF {
			if len(t.order) > 0 { // an image already here downloads nothing
				report(t.progress())
			}
			return nil
		} else if err != nil {
			return err
		}
		if m.Error != nil {
			return errors.New(strings.TrimSpace(m.Error.Message))
		}
		if finished := t.update(m); len(t.order) > 0 && (finished || time.Since(last) > 500*time.Millisecond) {
			last = time.Now()
			report(t.progress())
		}
	}
}
