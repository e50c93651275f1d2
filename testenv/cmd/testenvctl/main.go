// testenvctl is the small helper of scripts/kube-testenv.sh: it talks to the test
// kube-apiserver with client-go (no kubectl needed) and writes kwok's configuration.
//
//	testenvctl freeport N                      print N free TCP ports on 127.0.0.1
//	testenvctl kwok-config -out FILE           kwok's default stages + gofast's failure stages
//	testenvctl wait-ready -kubeconfig K        wait until /readyz is ok
//	testenvctl crds -kubeconfig K [-kwok] FILE...  server-side apply CRDs, wait until Established
//	testenvctl node -kubeconfig K -name N      apply a fake kwok Node, wait until it is Ready
//	testenvctl smoke -kubeconfig K -logs-dir D a Deployment gets a Ready pod (and logs), then is deleted
package main

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	kwokcrd "sigs.k8s.io/kwok/kustomize/crd"
	nodefast "sigs.k8s.io/kwok/kustomize/stage/node/fast"
	nodeheartbeatwithlease "sigs.k8s.io/kwok/kustomize/stage/node/heartbeat-with-lease"
	podfast "sigs.k8s.io/kwok/kustomize/stage/pod/fast"
)

const fieldManager = "gofast-testenv"

//go:embed stages.yaml
var gofastStages string

// specialImageTags are the image tag suffixes handled by stages.yaml; kwok's default
// pod-ready stage must not match them.
var specialImageTags = []string{":crashloop", ":oomkilled", ":unready", ":imagepullbackoff"}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: testenvctl freeport|kwok-config|wait-ready|crds|node|smoke [flags]")
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "freeport":
		err = freePorts(args)
	case "kwok-config":
		err = kwokConfig(args)
	case "wait-ready":
		err = waitReadyCmd(args)
	case "crds":
		err = crdsCmd(args)
	case "node":
		err = nodeCmd(args)
	case "smoke":
		err = smokeCmd(args)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenvctl %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

// common flags of the commands that talk to the apiserver
type common struct {
	kubeconfig string
	timeout    time.Duration
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file")
	fs.DurationVar(&c.timeout, "timeout", 3*time.Minute, "overall timeout")
}

func (c *common) restConfig() (*rest.Config, error) {
	if c.kubeconfig == "" {
		return nil, errors.New("-kubeconfig (or KUBECONFIG) is required")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.UserAgent = fieldManager
	cfg.QPS, cfg.Burst = 50, 100
	return cfg, nil
}

// freePorts prints n distinct ports that are free on 127.0.0.1. They are picked below the
// kernel's ephemeral range (net.ipv4.ip_local_port_range), so an outgoing connection of some
// other process cannot take one between this check and the component binding it.
func freePorts(args []string) error {
	n := 1
	if len(args) > 0 {
		if _, err := fmt.Sscan(args[0], &n); err != nil {
			return err
		}
	}
	low, high := 20000, 32767
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var ephLow, ephHigh int
		if _, err := fmt.Sscan(string(b), &ephLow, &ephHigh); err == nil && ephLow > 11000 {
			high = ephLow - 1
			low = max(high-12000, 10000)
		}
	}
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for tries := 0; len(ls) < n; tries++ {
		if tries > 1000 {
			return errors.New("no free ports found")
		}
		port := low + rand.IntN(high-low+1)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ls = append(ls, l)
		fmt.Println(port)
	}
	return nil
}

// kwokConfig writes a kwok config file with kwok's own default node and pod stages (the ones
// kwokctl uses) plus stages.yaml; the default pod-ready stage skips the special image tags.
func kwokConfig(args []string) error {
	fs := flag.NewFlagSet("kwok-config", flag.ExitOnError)
	out := fs.String("out", "", "output file")
	fs.Parse(args)
	if *out == "" {
		return errors.New("-out is required")
	}
	exclude := make([]string, len(specialImageTags))
	for i, t := range specialImageTags {
		exclude[i] = fmt.Sprintf("endswith(%q)", t)
	}
	excludeKey := fmt.Sprintf(".spec.containers.[] | select( .image | %s ) | .name", strings.Join(exclude, " or "))

	var docs []string
	for _, raw := range []string{
		nodefast.DefaultNodeInit,
		nodeheartbeatwithlease.DefaultNodeHeartbeatWithLease,
		podfast.DefaultPodReady,
		podfast.DefaultPodComplete,
		podfast.DefaultPodDelete,
	} {
		var stage map[string]any
		if err := yaml.Unmarshal([]byte(raw), &stage); err != nil {
			return err
		}
		name, _, _ := unstructured.NestedString(stage, "metadata", "name")
		if name == "pod-ready" {
			exprs, _, _ := unstructured.NestedSlice(stage, "spec", "selector", "matchExpressions")
			exprs = append(exprs, map[string]any{"key": excludeKey, "operator": "DoesNotExist"})
			if err := unstructured.SetNestedSlice(stage, exprs, "spec", "selector", "matchExpressions"); err != nil {
				return err
			}
		}
		b, err := yaml.Marshal(stage)
		if err != nil {
			return err
		}
		docs = append(docs, string(b))
	}
	docs = append(docs, gofastStages)
	return os.WriteFile(*out, []byte(strings.Join(docs, "\n---\n")), 0o644)
}

func waitReady(ctx context.Context, cfg *rest.Config) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	var last string
	err = wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		return strings.TrimSpace(string(body)) == "ok", nil
	})
	if err != nil {
		return fmt.Errorf("apiserver not ready: %w (last: %s)", err, last)
	}
	return nil
}

func waitReadyCmd(args []string) error {
	fs := flag.NewFlagSet("wait-ready", flag.ExitOnError)
	var c common
	c.register(fs)
	fs.Parse(args)
	cfg, err := c.restConfig()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	return waitReady(ctx, cfg)
}

// crdsCmd server-side applies every CustomResourceDefinition in the given YAML files (and,
// with -kwok, kwok's Logs and ClusterLogs CRDs) and waits until each is Established.
func crdsCmd(args []string) error {
	fs := flag.NewFlagSet("crds", flag.ExitOnError)
	var c common
	c.register(fs)
	withKwok := fs.Bool("kwok", false, "also apply kwok's Logs and ClusterLogs CRDs")
	fs.Parse(args)
	cfg, err := c.restConfig()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()

	var sources [][]byte
	for _, f := range fs.Args() {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		sources = append(sources, b)
	}
	if *withKwok {
		sources = append(sources, kwokcrd.Logs, kwokcrd.ClusterLogs)
	}
	cs, err := apiextensionsclient.NewForConfig(cfg)
	if err != nil {
		return err
	}
	var names []string
	for _, src := range sources {
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(src), 4096)
		for {
			var obj map[string]any
			if err := dec.Decode(&obj); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return err
			}
			if obj == nil || obj["kind"] != "CustomResourceDefinition" {
				continue
			}
			u := unstructured.Unstructured{Object: obj}
			data, err := u.MarshalJSON()
			if err != nil {
				return err
			}
			force := true
			_, err = cs.ApiextensionsV1().CustomResourceDefinitions().Patch(ctx, u.GetName(), types.ApplyPatchType, data,
				metav1.PatchOptions{FieldManager: fieldManager, Force: &force})
			if err != nil {
				return fmt.Errorf("apply CRD %s: %w", u.GetName(), err)
			}
			names = append(names, u.GetName())
		}
	}
	for _, name := range names {
		err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			crd, err := cs.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			established, accepted := false, false
			for _, cond := range crd.Status.Conditions {
				switch cond.Type {
				case apiextensionsv1.Established:
					established = cond.Status == apiextensionsv1.ConditionTrue
				case apiextensionsv1.NamesAccepted:
					accepted = cond.Status == apiextensionsv1.ConditionTrue
				}
			}
			return established && accepted, nil
		})
		if err != nil {
			return fmt.Errorf("CRD %s not established: %w", name, err)
		}
		fmt.Printf("crd %s established\n", name)
	}
	return nil
}

// nodeCmd applies a Node that kwok manages (annotation kwok.x-k8s.io/node=fake) and waits
// until kwok reports it Ready.
func nodeCmd(args []string) error {
	fs := flag.NewFlagSet("node", flag.ExitOnError)
	var c common
	c.register(fs)
	name := fs.String("name", "kwok-node-0", "node name")
	cpu := fs.String("cpu", "32", "cpu capacity")
	memory := fs.String("memory", "256Gi", "memory capacity")
	pods := fs.String("pods", "110", "pods capacity")
	fs.Parse(args)
	cfg, err := c.restConfig()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	resources := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(*cpu),
		corev1.ResourceMemory: resource.MustParse(*memory),
		corev1.ResourcePods:   resource.MustParse(*pods),
	}
	node := &corev1.Node{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
		ObjectMeta: metav1.ObjectMeta{
			Name: *name,
			Annotations: map[string]string{
				"kwok.x-k8s.io/node":           "fake",
				"node.alpha.kubernetes.io/ttl": "0",
			},
			Labels: map[string]string{
				"kubernetes.io/arch":            "amd64",
				"kubernetes.io/hostname":        *name,
				"kubernetes.io/os":              "linux",
				"kubernetes.io/role":            "agent",
				"node-role.kubernetes.io/agent": "",
				"type":                          "kwok",
			},
		},
	}
	if err := applyJSON(ctx, cs.CoreV1().RESTClient(), "nodes", *name, "", node); err != nil {
		return fmt.Errorf("apply node: %w", err)
	}
	status := &corev1.Node{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
		ObjectMeta: metav1.ObjectMeta{Name: *name},
		Status:     corev1.NodeStatus{Capacity: resources, Allocatable: resources},
	}
	if err := applyJSON(ctx, cs.CoreV1().RESTClient(), "nodes", *name, "status", status); err != nil {
		return fmt.Errorf("apply node status: %w", err)
	}
	err = wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, *name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		return nodeReady(n), nil
	})
	if err != nil {
		return fmt.Errorf("node %s not Ready (is kwok running?): %w", *name, err)
	}
	fmt.Printf("node %s ready\n", *name)
	return nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func applyJSON(ctx context.Context, rc rest.Interface, resource, name, subresource string, obj any) error {
	data, err := jsonMarshal(obj)
	if err != nil {
		return err
	}
	req := rc.Patch(types.ApplyPatchType).Resource(resource).Name(name).
		Param("fieldManager", fieldManager).Param("force", "true").Body(data)
	if subresource != "" {
		req = req.SubResource(subresource)
	}
	return req.Do(ctx).Error()
}

func jsonMarshal(obj any) ([]byte, error) {
	u, err := toUnstructured(obj)
	if err != nil {
		return nil, err
	}
	return u.MarshalJSON()
}

func toUnstructured(obj any) (*unstructured.Unstructured, error) {
	b, err := yaml.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	// drop the empty creationTimestamp etc. that typed structs serialize
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	return &unstructured.Unstructured{Object: m}, nil
}

var kwokLogsGVR = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "logs"}

// smokeCmd checks that the whole chain works: a Deployment gets a ReplicaSet (controller
// manager), its pod is scheduled (scheduler) and becomes Ready (kwok); with -logs-dir the pod
// log API returns a file served by kwok; a ":crashloop" image gets CrashLoopBackOff. Then the
// namespace is deleted and must disappear.
func smokeCmd(args []string) error {
	fs := flag.NewFlagSet("smoke", flag.ExitOnError)
	var c common
	c.register(fs)
	logsDir := fs.String("logs-dir", "", "if set, also check the pod log API through kwok (needs kwok -enable-crds=Logs)")
	fs.Parse(args)
	cfg, err := c.restConfig()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ns := fmt.Sprintf("gofast-testenv-smoke-%d", time.Now().UnixNano()%100000)
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	defer func() {
		// best effort if we fail before the explicit delete below
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	}()

	start := time.Now()
	deploy := func(name, image string) error {
		one := int32(1)
		labels := map[string]string{"app": name}
		_, err := cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: appsv1.DeploymentSpec{
				Replicas: &one,
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{
						Containers: []corev1.Container{{Name: "app", Image: image}},
					},
				},
			},
		}, metav1.CreateOptions{})
		return err
	}
	if err := deploy("ok", "example.invalid/x"); err != nil {
		return err
	}
	if err := deploy("crash", "example.invalid/x:crashloop"); err != nil {
		return err
	}

	podOf := func(app string) (*corev1.Pod, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
		if err != nil || len(pods.Items) == 0 {
			return nil, err
		}
		return &pods.Items[0], nil
	}
	var okPod *corev1.Pod
	err = wait.PollUntilContextCancel(ctx, 300*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		p, _ := podOf("ok")
		if p == nil {
			return false, nil
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				okPod = p
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("deployment's pod did not become Ready: %w", err)
	}
	err = wait.PollUntilContextCancel(ctx, 300*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "ok", metav1.GetOptions{})
		return err == nil && d.Status.AvailableReplicas == 1 && d.Status.ObservedGeneration == d.Generation, nil
	})
	if err != nil {
		return fmt.Errorf("deployment not available: %w", err)
	}
	fmt.Printf("smoke: pod %s/%s Ready on %s (ip %s) after %s\n", ns, okPod.Name, okPod.Spec.NodeName, okPod.Status.PodIP, time.Since(start).Round(time.Millisecond))

	err = wait.PollUntilContextCancel(ctx, 300*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		p, _ := podOf("crash")
		if p == nil || len(p.Status.ContainerStatuses) == 0 {
			return false, nil
		}
		st := p.Status.ContainerStatuses[0]
		return st.State.Waiting != nil && st.State.Waiting.Reason == "CrashLoopBackOff", nil
	})
	if err != nil {
		return fmt.Errorf("':crashloop' pod did not reach CrashLoopBackOff: %w", err)
	}
	fmt.Println("smoke: ':crashloop' pod reports CrashLoopBackOff")

	if *logsDir != "" {
		if err := checkLogs(ctx, cfg, cs, ns, okPod.Name, *logsDir); err != nil {
			return err
		}
	}

	// delete the Deployments first: the garbage collector removes their ReplicaSets and pods
	// (kwok's pod-delete stage finishes the pods); the namespace then goes away quickly (the
	// namespace controller would otherwise wait out the pods' 30s grace period)
	bg := metav1.DeletePropagationBackground
	for _, name := range []string{"ok", "crash"} {
		if err := cs.AppsV1().Deployments(ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
			return err
		}
	}
	err = wait.PollUntilContextCancel(ctx, 300*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		rss, err := cs.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) == 0 && len(rss.Items) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("pods/replicasets of the deleted deployments are not gone: %w", err)
	}
	fmt.Printf("smoke: deployments deleted, their replicasets and pods are gone after %s\n", time.Since(start).Round(time.Millisecond))
	if err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		return err
	}
	err = wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		return fmt.Errorf("namespace %s not deleted: %w", ns, err)
	}
	fmt.Printf("smoke: namespace %s deleted, total %s\n", ns, time.Since(start).Round(time.Millisecond))
	return nil
}

// checkLogs writes a CRI-format log file, points a kwok Logs object at it and reads it back
// through the apiserver's pod log API (apiserver -> kwok's kubelet port on the node).
func checkLogs(ctx context.Context, cfg *rest.Config, cs kubernetes.Interface, ns, pod, dir string) error {
	file := filepath.Join(dir, ns+"-"+pod+".log")
	prev := filepath.Join(dir, ns+"-"+pod+".previous.log")
	now := time.Now().UTC().Format(time.RFC3339Nano)
	if err := os.WriteFile(file, []byte(now+" stdout F hello from kwok\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(prev, []byte(now+" stderr F previous crash\n"), 0o644); err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	logs := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1",
		"kind":       "Logs",
		"metadata":   map[string]any{"name": pod, "namespace": ns},
		"spec": map[string]any{"logs": []any{map[string]any{
			"containers":       []any{"app"},
			"logsFile":         file,
			"previousLogsFile": prev,
		}}},
	}}
	if _, err := dyn.Resource(kwokLogsGVR).Namespace(ns).Create(ctx, logs, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create kwok Logs: %w", err)
	}
	for _, previous := range []bool{false, true} {
		want := "hello from kwok"
		if previous {
			want = "previous crash"
		}
		var got, lastErr string
		err = wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			b, err := cs.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: "app", Previous: previous}).DoRaw(ctx)
			if err != nil {
				lastErr = err.Error()
				return false, nil
			}
			got = string(b)
			return strings.Contains(got, want), nil
		})
		if err != nil {
			return fmt.Errorf("pod log API (previous=%v): %w (last body %q, last error %q)", previous, err, got, lastErr)
		}
	}
	fmt.Println("smoke: pod log API (current and previous) served through kwok")
	return nil
}
