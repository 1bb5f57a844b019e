package deploy_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/backfillhq/backfill/importer"
	"github.com/backfillhq/backfill/mappings"
)

const manifestPath = "kubernetes/backfill-job.yaml"

// The parts of the manifest's objects that the tests read.
type (
	object struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Data map[string]string `yaml:"data"` // ConfigMap
		Spec yaml.Node         `yaml:"spec"`
	}
	claimSpec struct {
		AccessModes []string `yaml:"accessModes"`
	}
	jobSpec struct {
		CompletionMode   string `yaml:"completionMode"`
		Completions      *int   `yaml:"completions"`
		Parallelism      *int   `yaml:"parallelism"`
		PodFailurePolicy struct {
			Rules []struct {
				Action      string `yaml:"action"`
				OnExitCodes *struct {
					ContainerName string `yaml:"containerName"`
					Operator      string `yaml:"operator"`
					Values        []int  `yaml:"values"`
				} `yaml:"onExitCodes"`
			} `yaml:"rules"`
		} `yaml:"podFailurePolicy"`
		Template struct {
			Metadata struct {
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
	}
	podSpec struct {
		RestartPolicy   string `yaml:"restartPolicy"`
		SecurityContext struct {
			RunAsNonRoot *bool `yaml:"runAsNonRoot"`
			RunAsUser    *int  `yaml:"runAsUser"`
			FSGroup      *int  `yaml:"fsGroup"`
		} `yaml:"securityContext"`
		Containers []container `yaml:"containers"`
		Volumes    []struct {
			Name                  string `yaml:"name"`
			PersistentVolumeClaim *struct {
				ClaimName string `yaml:"claimName"`
			} `yaml:"persistentVolumeClaim"`
			ConfigMap *struct {
				Name string `yaml:"name"`
			} `yaml:"configMap"`
		} `yaml:"volumes"`
	}
	container struct {
		Name       string   `yaml:"name"`
		Image      string   `yaml:"image"`
		WorkingDir string   `yaml:"workingDir"`
		Args       []string `yaml:"args"`
		Env        []struct {
			Name      string  `yaml:"name"`
			Value     *string `yaml:"value"`
			ValueFrom *struct {
				SecretKeyRef *struct {
					Name string `yaml:"name"`
					Key  string `yaml:"key"`
				} `yaml:"secretKeyRef"`
			} `yaml:"valueFrom"`
		} `yaml:"env"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		SecurityContext struct {
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		} `yaml:"securityContext"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
	}
)

// readManifest decodes every document of the manifest.
func readManifest(t *testing.T) []object {
	t.Helper()
	data, err := os.ReadFile(manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(false)
	var objects []object
	for {
		var o object
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return objects
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", manifestPath, len(objects)+1, err)
		}
		objects = append(objects, o)
	}
}

// flagValue returns the value of --name in args, written --name=value or
// --name value, and whether it is there.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
		if a == "--"+name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// show is *p in words, or "missing".
func show(p *int) string {
	if p == nil {
		return "missing"
	}
	return strconv.Itoa(*p)
}

// TestKubernetesJob reads deploy/kubernetes/backfill-job.yaml as
// Kubernetes would and checks what an import split into shards relies on:
// an Indexed Job whose completions are the import's --shards, the write
// key from a Secret, the checkpoint folder on a volume every pod can
// write, the metrics port declared where --metrics-addr listens, the
// mapping where --mapping reads it, and a non-root container matching the
// image's user and working folder.
func TestKubernetesJob(t *testing.T) {
	objects := readManifest(t)
	kinds := map[string]object{}
	for _, o := range objects {
		if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
			t.Errorf("a document without apiVersion, kind or metadata.name: %+v", o)
		}
		kinds[o.Kind] = o
	}
	jobObject, ok := kinds["Job"]
	if !ok || jobObject.APIVersion != "batch/v1" {
		t.Fatalf("%s holds no batch/v1 Job: %v", manifestPath, objects)
	}
	var job jobSpec
	if err := jobObject.Spec.Decode(&job); err != nil {
		t.Fatalf("the Job's spec: %v", err)
	}
	pod := job.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("the Job's pod has %d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if len(c.Args) == 0 || c.Args[0] != "import" {
		t.Fatalf("the container's args are %q, want backfill import", c.Args)
	}

	// The shards: pod K imports shard K (JOB_COMPLETION_INDEX) of --shards.
	if job.CompletionMode != "Indexed" {
		t.Errorf("completionMode is %q, want Indexed: JOB_COMPLETION_INDEX is the shard", job.CompletionMode)
	}
	shards, ok := flagValue(c.Args, "shards")
	n, err := strconv.Atoi(shards)
	if !ok || err != nil || n < 1 {
		t.Errorf("the args give --shards %q, want a number of shards", shards)
	}
	if job.Completions == nil || *job.Completions != n {
		t.Errorf("completions is %s, want %d, as --shards", show(job.Completions), n)
	}
	if job.Parallelism == nil || *job.Parallelism < 1 || *job.Parallelism > n {
		t.Errorf("parallelism is %s, want 1 to %d", show(job.Parallelism), n)
	}
	if job.Parallelism != nil && *job.Parallelism < n {
		// Fewer shards at once than there are: they share the rates by it.
		if m, _ := flagValue(c.Args, "concurrent-shards"); m != strconv.Itoa(*job.Parallelism) {
			t.Errorf("parallelism is %d, below completions, and --concurrent-shards is %q, want %d", *job.Parallelism, m, *job.Parallelism)
		}
	}
	if pod.RestartPolicy != "Never" {
		t.Errorf("restartPolicy is %q, want Never (a pod failure policy needs it)", pod.RestartPolicy)
	}
	var final []int
	for _, r := range job.PodFailurePolicy.Rules {
		if r.Action == "FailIndex" && r.OnExitCodes != nil && r.OnExitCodes.Operator == "In" && r.OnExitCodes.ContainerName == c.Name {
			final = append(final, r.OnExitCodes.Values...)
		}
	}
	slices.Sort(final)
	if !slices.Equal(final, []int{2, 3, 64}) {
		t.Errorf("the exit codes that fail a shard at once are %v, want [2 3 64] (rejects, error budget, bad usage)", final)
	}

	// The write key: from a Secret, never written into the manifest.
	var fromSecret bool
	for _, e := range c.Env {
		if e.Name != "SEGMENT_WRITE_KEY" {
			continue
		}
		if e.Value != nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
			e.ValueFrom.SecretKeyRef.Name == "" || e.ValueFrom.SecretKeyRef.Key == "" {
			t.Errorf("SEGMENT_WRITE_KEY is not taken from a Secret's key (secretKeyRef with a name and a key, and no value)")
			continue
		}
		fromSecret = true
	}
	if !fromSecret {
		t.Errorf("the container has no SEGMENT_WRITE_KEY from a secretKeyRef")
	}
	for _, a := range c.Args {
		if strings.HasPrefix(a, "--write-key") {
			t.Errorf("the args give the write key (%q); it comes from the Secret", a)
		}
	}

	// The metrics: the port --metrics-addr listens on, declared and annotated.
	addr, _ := flagValue(c.Args, "metrics-addr")
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("--metrics-addr %q: %v", addr, err)
	}
	var declared bool
	for _, p := range c.Ports {
		declared = declared || (p.Name == "metrics" && strconv.Itoa(p.ContainerPort) == port)
	}
	if !declared {
		t.Errorf("no container port named metrics is %s, the port of --metrics-addr: %+v", port, c.Ports)
	}
	ann := job.Template.Metadata.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != port {
		t.Errorf("the pod's annotations %v do not ask Prometheus to scrape port %s", ann, port)
	}

	// The checkpoints: on a volume every pod of the Job can write.
	mounts := map[string]string{} // volume name → mount path
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	folder := path.Join(c.WorkingDir, importer.DefaultCheckpointDir)
	if cp, ok := flagValue(c.Args, "checkpoint"); ok {
		folder = path.Dir(cp)
	}
	claim, ok := kinds["PersistentVolumeClaim"]
	if !ok {
		t.Fatalf("%s holds no PersistentVolumeClaim for the checkpoints", manifestPath)
	}
	var onClaim bool
	for _, v := range pod.Volumes {
		if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claim.Metadata.Name && mounts[v.Name] == folder {
			onClaim = true
		}
	}
	if !onClaim {
		t.Errorf("the checkpoint folder %s is not where a volume of the claim %s is mounted (mounts: %v)", folder, claim.Metadata.Name, mounts)
	}
	var cs claimSpec
	if err := claim.Spec.Decode(&cs); err != nil {
		t.Fatalf("the claim's spec: %v", err)
	}
	if !slices.Contains(cs.AccessModes, "ReadWriteMany") {
		t.Errorf("the claim's access modes are %v, want ReadWriteMany: the shards' pods run on several nodes", cs.AccessModes)
	}

	// The mapping: the ConfigMap's key, mounted where --mapping reads it,
	// and a mapping that compiles.
	mapping, ok := flagValue(c.Args, "mapping")
	cm, hasCM := kinds["ConfigMap"]
	if !ok || !hasCM {
		t.Fatalf("--mapping %q, ConfigMap present %v: want both", mapping, hasCM)
	}
	var text string
	for _, v := range pod.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == cm.Metadata.Name && mounts[v.Name] == path.Dir(mapping) {
			text = cm.Data[path.Base(mapping)]
		}
	}
	if text == "" {
		t.Fatalf("--mapping %s is not a key of the ConfigMap %s mounted at %s", mapping, cm.Metadata.Name, path.Dir(mapping))
	}
	spec, err := mappings.ParseSpec([]byte(text), mapping)
	if err == nil {
		_, err = spec.Compile(nil, mappings.Options{})
	}
	if err != nil {
		t.Errorf("the ConfigMap's mapping: %v", err)
	}

	// A non-root container: the image's user, its working folder.
	image := readDockerfile(t)
	sc := pod.SecurityContext
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || strconv.Itoa(*sc.RunAsUser) != image.uid || sc.FSGroup == nil {
		t.Errorf("the pod's securityContext has runAsUser %s, fsGroup %s; want runAsNonRoot, runAsUser %s (the image's USER) and an fsGroup that makes the volume writable",
			show(sc.RunAsUser), show(sc.FSGroup), image.uid)
	}
	if p := c.SecurityContext.AllowPrivilegeEscalation; p == nil || *p {
		t.Errorf("the container may escalate its privileges")
	}
	if r := c.SecurityContext.ReadOnlyRootFilesystem; r == nil || !*r {
		t.Errorf("the container's root file system is writable")
	}
	if c.WorkingDir != image.workdir {
		t.Errorf("workingDir is %q, want the image's WORKDIR %q", c.WorkingDir, image.workdir)
	}
}
