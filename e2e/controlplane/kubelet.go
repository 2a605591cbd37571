package main

// kubelet.go: the process kubelet. It registers the Node lifeboat-node (Ready), runs
// the pods the scheduler binds to it as local processes, each container under
// `unshare --mount --propagation private` with its volumes bind-mounted (as kubesim's
// kubelet does, e2e/controlplane/KUBELET.md), reports pod status so that the real
// Deployment, StatefulSet and Job controllers compute theirs, and serves exec, attach
// and container logs to the API server (k8s.io/kubelet's remotecommand server, SPDY;
// the API server translates kubectl's WebSocket). It also binds PVCs to host folders
// (a tiny provisioner) and writes RUN_DIR/controlplane/services.json, the Service
// name -> 127.0.0.1:<port> map the scenarios and LIFEBOAT_SERVICE_MAP read.

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	remotecommandconsts "k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	clientremotecommand "k8s.io/client-go/tools/remotecommand"
	"k8s.io/kubelet/pkg/cri/streaming/remotecommand"
	"k8s.io/kubernetes/third_party/forked/golang/expansion"
	utilexec "k8s.io/utils/exec"
)

const (
	saMount            = "/var/run/secrets/kubernetes.io/serviceaccount"
	restartBackoffBase = time.Second
	restartBackoffMax  = 10 * time.Second
	maxGrace           = 5 * time.Second
	logBodyMax         = 64 << 20 // bytes of one container log served
)

func parseURL(s string) ([]url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	return []url.URL{*u}, nil
}

type kubelet struct {
	cfg     *config
	cs      kubernetes.Interface // as system:node:<nodeName>
	pcs     kubernetes.Interface // as system:lifeboat-pv-provisioner
	podsDir string
	pvcDir  string
	mu      sync.Mutex
	pods    map[types.UID]*podRT
	podInf  cache.SharedIndexInformer
	svcInf  cache.SharedIndexInformer
	stopped bool
}

type ctrRT struct {
	name       string
	spec       v1.Container
	init       bool
	cmd        *exec.Cmd
	pid        int
	running    bool
	ready      bool
	done       bool // finished and will not restart
	runs       int
	restarts   int32
	startedAt  time.Time
	finishedAt time.Time
	exitCode   int
	nextStart  time.Time
	waitReason string
	waitMsg    string
	lastTerm   *v1.ContainerStateTerminated
	env        []string
	probeStop  chan struct{}
}

type podRT struct {
	k         *kubelet
	uid       types.UID
	ns, name  string
	dir       string
	mu        sync.Mutex
	pod       *v1.Pod
	inits     []*ctrRT
	ctrs      []*ctrRT
	ports     map[string]int // "8080" / "http" -> host port
	startTime time.Time
	killing   bool
	poke      chan struct{}
	lastSent  string
}

func runKubelet(cfg *config) {
	// The kubelet's own identity: a client certificate for system:node:<name> in group
	// system:nodes, authorised by the Node authorizer and NodeRestriction (its Node, its
	// pods, the Secrets/ConfigMaps/PVCs/tokens those pods use). The PV provisioner is a
	// separate identity (system:lifeboat-pv-provisioner, bound by the supervisor to the
	// built-in ClusterRole system:persistent-volume-provisioner): a node may not create PVs.
	cs := clientFor(cfg, "kubelet")
	pcs := clientFor(cfg, "pv-provisioner")
	k := &kubelet{cfg: cfg, cs: cs, pcs: pcs, pods: map[types.UID]*podRT{},
		podsDir: filepath.Join(cfg.dir, "pods"), pvcDir: filepath.Join(cfg.dir, "pvc")}
	sweepPods(cfg) // processes a previous kubelet of this run dir left behind
	ctx, cancel := context.WithCancel(context.Background())
	if err := k.registerNode(ctx); err != nil {
		fatal(err)
	}
	go k.heartbeat(ctx)
	go k.serve()
	fac := informers.NewSharedInformerFactoryWithOptions(cs, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = "spec.nodeName=" + nodeName
		}))
	k.podInf = fac.Core().V1().Pods().Informer()
	_, _ = k.podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { k.onPod(o.(*v1.Pod)) },
		UpdateFunc: func(_, o any) { k.onPod(o.(*v1.Pod)) },
		DeleteFunc: func(o any) {
			if p, ok := o.(*v1.Pod); ok {
				k.onPodGone(p.UID)
			} else if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
				if p, ok := t.Obj.(*v1.Pod); ok {
					k.onPodGone(p.UID)
				}
			}
		},
	})
	all := informers.NewSharedInformerFactory(cs, 0)
	k.svcInf = all.Core().V1().Services().Informer()
	prov := informers.NewSharedInformerFactory(pcs, 0)
	pvcInf := prov.Core().V1().PersistentVolumeClaims().Informer()
	_, _ = pvcInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { k.provision(o.(*v1.PersistentVolumeClaim)) },
		UpdateFunc: func(_, o any) { k.provision(o.(*v1.PersistentVolumeClaim)) },
	})
	fac.Start(ctx.Done())
	all.Start(ctx.Done())
	prov.Start(ctx.Done())
	go k.serviceMapLoop(ctx)
	go k.reclaimLoop(ctx)
	go k.volumeResyncLoop(ctx)
	logf("kubelet: node %s up, serving on 127.0.0.1:%d", nodeName, cfg.kletPort)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	logf("kubelet: stopping every pod")
	k.mu.Lock()
	k.stopped = true
	rts := make([]*podRT, 0, len(k.pods))
	for _, rt := range k.pods {
		rts = append(rts, rt)
	}
	k.mu.Unlock()
	var wg sync.WaitGroup
	for _, rt := range rts {
		wg.Add(1)
		go func(rt *podRT) { defer wg.Done(); rt.killAll(2 * time.Second) }(rt)
	}
	wg.Wait()
	cancel()
}

// clientFor is a clientset with RUN_DIR/controlplane/<name>.kubeconfig (written by the
// supervisor's ensurePKI); it exits the process when the kubeconfig is unusable.
func clientFor(cfg *config, name string) *kubernetes.Clientset {
	rc, err := clientcmd.BuildConfigFromFlags("", cfg.kc(name))
	if err != nil {
		fatal(err)
	}
	rc.QPS, rc.Burst = 100, 200
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		fatal(err)
	}
	return cs
}

// ---------------------------------------------------------------------- node

func (k *kubelet) nodeObject() *v1.Node {
	q := func(s string) resource.Quantity { return resource.MustParse(s) }
	res := v1.ResourceList{v1.ResourceCPU: q("64"), v1.ResourceMemory: q("256Gi"),
		v1.ResourcePods: q("500"), v1.ResourceEphemeralStorage: q("500Gi")}
	now := metav1.Now()
	return &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: nodeName, Labels: map[string]string{
			"kubernetes.io/hostname": nodeName, "kubernetes.io/os": "linux",
			"kubernetes.io/arch": "amd64"}},
		Status: v1.NodeStatus{
			Capacity: res, Allocatable: res,
			Conditions: []v1.NodeCondition{
				{Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "KubeletReady",
					Message:           "lifeboat process kubelet is posting ready status",
					LastHeartbeatTime: now, LastTransitionTime: now},
				{Type: v1.NodeMemoryPressure, Status: v1.ConditionFalse, Reason: "KubeletHasSufficientMemory", LastHeartbeatTime: now, LastTransitionTime: now},
				{Type: v1.NodeDiskPressure, Status: v1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", LastHeartbeatTime: now, LastTransitionTime: now},
				{Type: v1.NodePIDPressure, Status: v1.ConditionFalse, Reason: "KubeletHasSufficientPID", LastHeartbeatTime: now, LastTransitionTime: now},
			},
			Addresses: []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: "127.0.0.1"},
				{Type: v1.NodeHostName, Address: nodeName}},
			DaemonEndpoints: v1.NodeDaemonEndpoints{KubeletEndpoint: v1.DaemonEndpoint{Port: int32(k.cfg.kletPort)}},
			NodeInfo: v1.NodeSystemInfo{KubeletVersion: "v1.32.13", OperatingSystem: "linux",
				Architecture: "amd64", ContainerRuntimeVersion: "lifeboat-process://1",
				KernelVersion: "", OSImage: "lifeboat process kubelet"},
		},
	}
}

func (k *kubelet) registerNode(ctx context.Context) error {
	want := k.nodeObject()
	for i := 0; ; i++ {
		n, err := k.cs.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			n, err = k.cs.CoreV1().Nodes().Create(ctx, want, metav1.CreateOptions{})
		}
		if err == nil {
			n.Status = want.Status
			_, err = k.cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		}
		if err == nil {
			return nil
		}
		if i > 60 {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (k *kubelet) heartbeat(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := k.cs.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			continue
		}
		now := metav1.Now()
		for i := range n.Status.Conditions {
			n.Status.Conditions[i].LastHeartbeatTime = now
			if n.Status.Conditions[i].Type == v1.NodeReady && n.Status.Conditions[i].Status != v1.ConditionTrue {
				n.Status.Conditions[i].Status = v1.ConditionTrue
				n.Status.Conditions[i].LastTransitionTime = now
			}
		}
		_, _ = k.cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
	}
}

// ---------------------------------------------------------------------- pods

func (k *kubelet) onPod(p *v1.Pod) {
	k.mu.Lock()
	if k.stopped {
		k.mu.Unlock()
		return
	}
	rt := k.pods[p.UID]
	if rt == nil {
		if p.DeletionTimestamp != nil && (p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed || p.Status.Phase == "") {
			k.mu.Unlock()
			k.finalDelete(p)
			return
		}
		if p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed {
			k.mu.Unlock() // finished before this kubelet started: nothing to run
			return
		}
		rt = &podRT{k: k, uid: p.UID, ns: p.Namespace, name: p.Name, pod: p,
			dir: filepath.Join(k.podsDir, p.Namespace, p.Name), ports: map[string]int{},
			poke: make(chan struct{}, 1)}
		k.pods[p.UID] = rt
		k.mu.Unlock()
		go rt.run()
		return
	}
	k.mu.Unlock()
	rt.mu.Lock()
	rt.pod = p
	rt.mu.Unlock()
	rt.wake()
}

func (k *kubelet) onPodGone(uid types.UID) {
	k.mu.Lock()
	rt := k.pods[uid]
	k.mu.Unlock()
	if rt != nil {
		rt.mu.Lock()
		rt.killing = true
		rt.mu.Unlock()
		rt.wake()
	}
}

func (k *kubelet) finalDelete(p *v1.Pod) {
	zero := int64(0)
	uid := p.UID
	err := k.cs.CoreV1().Pods(p.Namespace).Delete(context.Background(), p.Name,
		metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		logf("kubelet: delete pod %s/%s: %v", p.Namespace, p.Name, err)
	}
}

func (rt *podRT) wake() {
	select {
	case rt.poke <- struct{}{}:
	default:
	}
}

func (rt *podRT) run() {
	_ = os.MkdirAll(rt.dir, 0o755)
	_ = os.WriteFile(filepath.Join(rt.dir, "uid"), []byte(rt.uid), 0o644)
	rt.mu.Lock()
	p := rt.pod
	rt.startTime = time.Now()
	for _, c := range p.Spec.InitContainers {
		rt.inits = append(rt.inits, &ctrRT{name: c.Name, spec: c, init: true})
	}
	for _, c := range p.Spec.Containers {
		rt.ctrs = append(rt.ctrs, &ctrRT{name: c.Name, spec: c})
		for _, cp := range c.Ports {
			hp := freePort()
			rt.ports[strconv.Itoa(int(cp.ContainerPort))] = hp
			if cp.Name != "" {
				rt.ports[cp.Name] = hp
			}
		}
	}
	rt.mu.Unlock()
	if b, err := json.Marshal(rt.ports); err == nil {
		_ = os.WriteFile(filepath.Join(rt.dir, "ports.json"), b, 0o644)
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		rt.mu.Lock()
		p := rt.pod
		killing := rt.killing || p.DeletionTimestamp != nil
		rt.mu.Unlock()
		if killing {
			grace := maxGrace
			if p.DeletionGracePeriodSeconds != nil && time.Duration(*p.DeletionGracePeriodSeconds)*time.Second < grace {
				grace = time.Duration(*p.DeletionGracePeriodSeconds) * time.Second
			}
			rt.killAll(grace)
			rt.k.finalDelete(p)
			rt.k.mu.Lock()
			delete(rt.k.pods, rt.uid)
			rt.k.mu.Unlock()
			_ = os.RemoveAll(filepath.Join(rt.dir, "volumes"))
			return
		}
		rt.step()
		rt.sendStatus()
		select {
		case <-rt.poke:
		case <-tick.C:
		}
	}
}

// step starts what should run now: init containers in order, then the containers;
// restarts exited ones per restartPolicy with a back-off.
func (rt *podRT) step() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	policy := rt.pod.Spec.RestartPolicy
	now := time.Now()
	for _, c := range rt.inits {
		if c.done && c.exitCode == 0 {
			continue
		}
		if c.running {
			return
		}
		if c.done { // failed with restartPolicy Never: the pod failed
			return
		}
		if now.After(c.nextStart) {
			rt.startLocked(c)
		}
		return
	}
	for _, c := range rt.ctrs {
		if c.running || c.done || now.Before(c.nextStart) {
			continue
		}
		rt.startLocked(c)
	}
	_ = policy
}

func (rt *podRT) onExit(c *ctrRT, cmd *exec.Cmd) {
	err := cmd.Wait()
	code := 0
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				code = 128 + int(ws.Signal())
			}
		} else {
			code = 1
		}
	}
	rt.mu.Lock()
	if c.cmd != cmd {
		rt.mu.Unlock()
		return
	}
	if c.probeStop != nil {
		close(c.probeStop)
		c.probeStop = nil
	}
	c.running, c.ready = false, false
	c.exitCode, c.finishedAt = code, time.Now()
	_ = os.Remove(filepath.Join(rt.dir, c.name+".pid"))
	policy := rt.pod.Spec.RestartPolicy
	restart := !rt.killing && (policy == v1.RestartPolicyAlways && !c.init ||
		(policy == v1.RestartPolicyOnFailure || policy == v1.RestartPolicyAlways) && code != 0)
	if restart {
		if time.Since(c.startedAt) > 2*restartBackoffMax {
			c.runs = 1
		}
		delay := restartBackoffBase << uint(max(c.runs-1, 0))
		if delay > restartBackoffMax {
			delay = restartBackoffMax
		}
		c.nextStart = time.Now().Add(delay)
		c.waitReason = "CrashLoopBackOff"
		c.waitMsg = fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s", delay, c.name, rt.name, rt.ns)
		go func() { time.Sleep(delay); rt.wake() }()
	} else {
		c.done = true
	}
	rt.mu.Unlock()
	rt.wake()
}

func (rt *podRT) startLocked(c *ctrRT) {
	c.waitReason, c.waitMsg = "", ""
	env, err := rt.resolveEnv(c)
	if err != nil {
		c.waitReason, c.waitMsg = "CreateContainerConfigError", err.Error()
		c.nextStart = time.Now().Add(restartBackoffBase)
		return
	}
	if len(c.spec.Command) == 0 {
		c.waitReason = "CreateContainerError"
		c.waitMsg = fmt.Sprintf("containers[%s].command is required: the process kubelet ignores images", c.name)
		c.nextStart = time.Now().Add(restartBackoffMax)
		return
	}
	mapping := expansion.MappingFuncFor(envMap(env))
	var argv []string
	for _, a := range append(append([]string{}, c.spec.Command...), c.spec.Args...) {
		argv = append(argv, expansion.Expand(a, mapping))
	}
	mounts, err := rt.prepareMounts(c)
	if err != nil {
		c.waitReason, c.waitMsg = "CreateContainerConfigError", err.Error()
		c.nextStart = time.Now().Add(restartBackoffBase)
		return
	}
	lines := []string{"set -e"}
	for _, m := range mounts {
		if m.file {
			lines = append(lines, fmt.Sprintf("[ -e %s ] || { mkdir -p %s; : > %s; }", shq(m.dst), shq(filepath.Dir(m.dst)), shq(m.dst)))
		} else {
			lines = append(lines, "mkdir -p "+shq(m.dst))
		}
		lines = append(lines, fmt.Sprintf("mount --bind %s %s", shq(m.src), shq(m.dst)))
		if m.ro {
			lines = append(lines, "mount -o remount,bind,ro "+shq(m.dst))
		}
	}
	if wd := c.spec.WorkingDir; wd != "" {
		lines = append(lines, fmt.Sprintf("mkdir -p %s; cd %s", shq(wd), shq(wd)))
	}
	lines = append(lines, `exec "$@"`)
	args := append([]string{"--mount", "--propagation", "private", "--", "/bin/sh", "-c",
		strings.Join(lines, "\n"), "lifeboat-pod"}, argv...)
	logPath := filepath.Join(rt.dir, c.name+".log")
	if c.runs > 0 {
		_ = os.Rename(logPath, filepath.Join(rt.dir, c.name+".previous.log"))
	}
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.waitReason, c.waitMsg = "RunContainerError", err.Error()
		c.nextStart = time.Now().Add(restartBackoffMax)
		return
	}
	defer lf.Close()
	cmd := exec.Command("unshare", args...)
	cmd.Env, cmd.Dir = env, "/"
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		c.waitReason, c.waitMsg = "RunContainerError", err.Error()
		c.nextStart = time.Now().Add(restartBackoffMax)
		return
	}
	if c.runs > 0 {
		c.restarts++
		if !c.finishedAt.IsZero() {
			c.lastTerm = c.terminated()
		}
	}
	c.runs++
	c.cmd, c.pid, c.running, c.env = cmd, cmd.Process.Pid, true, env
	c.startedAt, c.finishedAt = time.Now(), time.Time{}
	c.ready = c.spec.ReadinessProbe == nil
	_ = os.WriteFile(filepath.Join(rt.dir, c.name+".pid"), []byte(fmt.Sprintf("%d %s", c.pid, procStart(c.pid))), 0o644)
	go rt.onExit(c, cmd)
	if c.spec.ReadinessProbe != nil && !c.init {
		c.probeStop = make(chan struct{})
		go rt.probeLoop(c, cmd, c.probeStop)
	}
}

func (c *ctrRT) terminated() *v1.ContainerStateTerminated {
	reason := "Completed"
	if c.exitCode != 0 {
		reason = "Error"
	}
	return &v1.ContainerStateTerminated{ExitCode: int32(c.exitCode), Reason: reason,
		StartedAt: metav1.NewTime(c.startedAt), FinishedAt: metav1.NewTime(c.finishedAt),
		ContainerID: fmt.Sprintf("lifeboat://%d", c.pid)}
}

func (rt *podRT) probeLoop(c *ctrRT, cmd *exec.Cmd, stop chan struct{}) {
	pr := c.spec.ReadinessProbe
	period := time.Duration(max(pr.PeriodSeconds, 1)) * time.Second
	timeout := time.Duration(max(pr.TimeoutSeconds, 1)) * time.Second
	needOK, needFail := int(max(pr.SuccessThreshold, 1)), int(max(pr.FailureThreshold, 1))
	oks, fails := 0, 0
	select {
	case <-stop:
		return
	case <-time.After(time.Duration(pr.InitialDelaySeconds) * time.Second):
	}
	for {
		ok := rt.probeOnce(c, cmd.Process.Pid, pr, timeout)
		if ok {
			oks, fails = oks+1, 0
		} else {
			oks, fails = 0, fails+1
		}
		rt.mu.Lock()
		if c.cmd != cmd || !c.running {
			rt.mu.Unlock()
			return
		}
		before := c.ready
		if ok && oks >= needOK {
			c.ready = true
		} else if !ok && (fails >= needFail || !c.ready) {
			c.ready = false
		}
		changed := before != c.ready
		rt.mu.Unlock()
		if changed {
			rt.wake()
		}
		select {
		case <-stop:
			return
		case <-time.After(period):
		}
	}
}

func (rt *podRT) hostPort(p intstr.IntOrString) (int, bool) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	hp, ok := rt.ports[p.String()]
	return hp, ok
}

func (rt *podRT) probeOnce(c *ctrRT, pid int, pr *v1.Probe, timeout time.Duration) bool {
	switch {
	case pr.Exec != nil:
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "nsenter", append([]string{"-t", strconv.Itoa(pid), "-m", "-w", "--"}, pr.Exec.Command...)...)
		rt.mu.Lock()
		cmd.Env = c.env
		rt.mu.Unlock()
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		return cmd.Run() == nil
	case pr.HTTPGet != nil:
		hp, ok := rt.hostPort(pr.HTTPGet.Port)
		if !ok {
			return false
		}
		hc := &http.Client{Timeout: timeout}
		r, err := hc.Get(fmt.Sprintf("http://127.0.0.1:%d%s", hp, pr.HTTPGet.Path))
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode >= 200 && r.StatusCode < 400
	case pr.TCPSocket != nil:
		hp, ok := rt.hostPort(pr.TCPSocket.Port)
		if !ok {
			return false
		}
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", hp), timeout)
		if err != nil {
			return false
		}
		conn.Close()
		return true
	}
	return false
}

// killAll stops every container process group: TERM, KILL after grace.
func (rt *podRT) killAll(grace time.Duration) {
	rt.mu.Lock()
	rt.killing = true
	var pids []int
	for _, c := range append(append([]*ctrRT{}, rt.inits...), rt.ctrs...) {
		if c.running && c.pid > 0 {
			pids = append(pids, c.pid)
		}
	}
	rt.mu.Unlock()
	for _, pid := range pids {
		_ = syscall.Kill(-pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		alive := false
		for _, pid := range pids {
			if syscall.Kill(-pid, 0) == nil {
				alive = true
			}
		}
		if !alive {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, pid := range pids {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	// wait for onExit to record the exits (bounded)
	for i := 0; i < 100; i++ {
		rt.mu.Lock()
		running := false
		for _, c := range append(append([]*ctrRT{}, rt.inits...), rt.ctrs...) {
			running = running || c.running
		}
		rt.mu.Unlock()
		if !running {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------- status

func (rt *podRT) sendStatus() {
	rt.mu.Lock()
	st := rt.statusLocked()
	rt.mu.Unlock()
	b, err := json.Marshal(map[string]any{"status": st})
	if err != nil {
		return
	}
	key := string(b)
	if key == rt.lastSent {
		return
	}
	_, err = rt.k.cs.CoreV1().Pods(rt.ns).Patch(context.Background(), rt.name, types.StrategicMergePatchType,
		b, metav1.PatchOptions{}, "status")
	if err == nil {
		rt.lastSent = key
	} else if !apierrors.IsNotFound(err) {
		logf("kubelet: status of %s/%s: %v", rt.ns, rt.name, err)
	}
}

func cond(t v1.PodConditionType, ok bool, since time.Time) v1.PodCondition {
	s := v1.ConditionFalse
	if ok {
		s = v1.ConditionTrue
	}
	return v1.PodCondition{Type: t, Status: s, LastTransitionTime: metav1.NewTime(since.Truncate(time.Second))}
}

func (c *ctrRT) status() v1.ContainerStatus {
	cs := v1.ContainerStatus{Name: c.name, Image: c.spec.Image, ImageID: "lifeboat-process://" + c.spec.Image,
		Ready: c.ready && c.running, RestartCount: c.restarts, LastTerminationState: v1.ContainerState{Terminated: c.lastTerm}}
	started := c.running
	cs.Started = &started
	switch {
	case c.running:
		cs.ContainerID = fmt.Sprintf("lifeboat://%d", c.pid)
		cs.State.Running = &v1.ContainerStateRunning{StartedAt: metav1.NewTime(c.startedAt)}
	case c.waitReason != "" && c.done == false:
		cs.State.Waiting = &v1.ContainerStateWaiting{Reason: c.waitReason, Message: c.waitMsg}
		if !c.finishedAt.IsZero() {
			cs.LastTerminationState.Terminated = c.terminated()
		}
	case !c.finishedAt.IsZero():
		cs.ContainerID = fmt.Sprintf("lifeboat://%d", c.pid)
		cs.State.Terminated = c.terminated()
	default:
		cs.State.Waiting = &v1.ContainerStateWaiting{Reason: "PodInitializing"}
	}
	return cs
}

func (rt *podRT) statusLocked() v1.PodStatus {
	initsDone, initFailed := true, false
	var initSt []v1.ContainerStatus
	for _, c := range rt.inits {
		initSt = append(initSt, c.status())
		if !(c.done && c.exitCode == 0) {
			initsDone = false
		}
		if c.done && c.exitCode != 0 {
			initFailed = true
		}
	}
	var ctrSt []v1.ContainerStatus
	allReady, anyRunning, allDone, anyFailed := len(rt.ctrs) > 0, false, true, false
	for _, c := range rt.ctrs {
		ctrSt = append(ctrSt, c.status())
		if !(c.running && c.ready) {
			allReady = false
		}
		if c.running {
			anyRunning = true
		}
		if !c.done {
			allDone = false
		} else if c.exitCode != 0 {
			anyFailed = true
		}
	}
	phase := v1.PodPending
	switch {
	case initFailed:
		phase = v1.PodFailed
	case initsDone && allDone && anyFailed:
		phase = v1.PodFailed
	case initsDone && allDone:
		phase = v1.PodSucceeded
	case initsDone && (anyRunning || rt.anyStartedLocked()):
		phase = v1.PodRunning
	}
	st := v1.PodStatus{
		Phase:                 phase,
		HostIP:                "127.0.0.1",
		HostIPs:               []v1.HostIP{{IP: "127.0.0.1"}},
		PodIP:                 "127.0.0.1",
		PodIPs:                []v1.PodIP{{IP: "127.0.0.1"}},
		StartTime:             &metav1.Time{Time: rt.startTime.Truncate(time.Second)},
		InitContainerStatuses: initSt,
		ContainerStatuses:     ctrSt,
		QOSClass:              v1.PodQOSBestEffort,
	}
	ready := allReady && phase == v1.PodRunning
	st.Conditions = []v1.PodCondition{
		cond(v1.PodReadyToStartContainers, true, rt.startTime),
		cond(v1.PodInitialized, initsDone, rt.startTime),
		cond(v1.ContainersReady, ready, rt.startTime),
		cond(v1.PodReady, ready, rt.startTime),
		cond(v1.PodScheduled, true, rt.startTime),
	}
	return st
}

func (rt *podRT) anyStartedLocked() bool {
	for _, c := range rt.ctrs {
		if c.runs > 0 {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------- env

// absentAndOptional: whether a failed read of a referenced Secret or ConfigMap may be
// skipped. Only "not found" of an optional reference may: any other error (the Node
// authorizer answering 403 before its graph has seen the pod, a timeout) fails the container
// start, which is retried, as the kubelet does - skipping it would start the process without
// its credentials.
func absentAndOptional(err error, optional *bool) bool {
	return apierrors.IsNotFound(err) && optional != nil && *optional
}

// refError: the container-start error for a referenced object that could not be read.
func refError(kind, name string, err error) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%s %q not found", kind, name)
	}
	return fmt.Errorf("%s %q: %v", kind, name, err)
}

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		if i := strings.IndexByte(kv, '='); i > 0 {
			m[kv[:i]] = kv[i+1:]
		}
	}
	return m
}

// podPath: PostgreSQL's own bin folder comes before /usr/bin, where Debian's psql is
// postgresql-common's Perl wrapper (~60 ms of CPU a call): the sample apps run psql for
// every readiness probe, once a second (issue 9). AWSSIM_PG_BIN overrides it, as for awssim.
func podPath(cfg *config) string {
	return strings.Join([]string{cfg.binDir, filepath.Join(cfg.repo, "e2e", "apps"),
		envOr("AWSSIM_PG_BIN", "/usr/lib/postgresql/15/bin"),
		"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}, ":")
}

func (rt *podRT) fieldRef(p *v1.Pod, path string) (string, error) {
	switch path {
	case "metadata.name":
		return p.Name, nil
	case "metadata.namespace":
		return p.Namespace, nil
	case "metadata.uid":
		return string(p.UID), nil
	case "status.podIP", "status.hostIP":
		return "127.0.0.1", nil
	case "spec.nodeName":
		return p.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return p.Spec.ServiceAccountName, nil
	}
	for _, pre := range []string{"metadata.labels['", "metadata.annotations['"} {
		if strings.HasPrefix(path, pre) && strings.HasSuffix(path, "']") {
			key := path[len(pre) : len(path)-2]
			if strings.Contains(pre, "labels") {
				return p.Labels[key], nil
			}
			return p.Annotations[key], nil
		}
	}
	return "", fmt.Errorf("fieldRef %q is not supported by the process kubelet", path)
}

func (rt *podRT) resolveEnv(c *ctrRT) ([]string, error) {
	p := rt.pod
	ctx := context.Background()
	cs := rt.k.cs
	vals := map[string]string{
		"PATH": podPath(rt.k.cfg), "HOME": "/root", "HOSTNAME": p.Name,
		"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": strconv.Itoa(rt.k.cfg.apiPort),
	}
	if p.Spec.Hostname != "" {
		vals["HOSTNAME"] = p.Spec.Hostname
	}
	order := []string{"PATH", "HOME", "HOSTNAME", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"}
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	// ports: PORT (the first), KUBESIM_PORT_<n>, KUBESIM_PORT_<NAME> (kubesim's contract)
	for i, cp := range c.spec.Ports {
		hp := rt.ports[strconv.Itoa(int(cp.ContainerPort))]
		if i == 0 {
			set("PORT", strconv.Itoa(hp))
		}
		set(fmt.Sprintf("KUBESIM_PORT_%d", cp.ContainerPort), strconv.Itoa(hp))
		if cp.Name != "" {
			set("KUBESIM_PORT_"+strings.ToUpper(strings.ReplaceAll(cp.Name, "-", "_")), strconv.Itoa(hp))
		}
	}
	for _, ef := range c.spec.EnvFrom {
		switch {
		case ef.SecretRef != nil:
			s, err := cs.CoreV1().Secrets(p.Namespace).Get(ctx, ef.SecretRef.Name, metav1.GetOptions{})
			if err != nil {
				if absentAndOptional(err, ef.SecretRef.Optional) {
					continue
				}
				return nil, refError("secret", ef.SecretRef.Name, err)
			}
			for k, v := range s.Data {
				set(ef.Prefix+k, string(v))
			}
		case ef.ConfigMapRef != nil:
			m, err := cs.CoreV1().ConfigMaps(p.Namespace).Get(ctx, ef.ConfigMapRef.Name, metav1.GetOptions{})
			if err != nil {
				if absentAndOptional(err, ef.ConfigMapRef.Optional) {
					continue
				}
				return nil, refError("configmap", ef.ConfigMapRef.Name, err)
			}
			for k, v := range m.Data {
				set(ef.Prefix+k, v)
			}
		}
	}
	for _, e := range c.spec.Env {
		switch {
		case e.ValueFrom == nil:
			set(e.Name, expansion.Expand(e.Value, expansion.MappingFuncFor(vals)))
		case e.ValueFrom.SecretKeyRef != nil:
			r := e.ValueFrom.SecretKeyRef
			s, err := cs.CoreV1().Secrets(p.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
			v, ok := []byte(nil), false
			if err == nil {
				v, ok = s.Data[r.Key]
			}
			if err != nil && !absentAndOptional(err, r.Optional) {
				return nil, refError("secret", r.Name, err)
			}
			if !ok {
				if r.Optional != nil && *r.Optional {
					continue
				}
				return nil, fmt.Errorf("couldn't find key %s in Secret %s/%s", r.Key, p.Namespace, r.Name)
			}
			set(e.Name, string(v))
		case e.ValueFrom.ConfigMapKeyRef != nil:
			r := e.ValueFrom.ConfigMapKeyRef
			m, err := cs.CoreV1().ConfigMaps(p.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
			v, ok := "", false
			if err == nil {
				v, ok = m.Data[r.Key]
			}
			if err != nil && !absentAndOptional(err, r.Optional) {
				return nil, refError("configmap", r.Name, err)
			}
			if !ok {
				if r.Optional != nil && *r.Optional {
					continue
				}
				return nil, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", r.Key, p.Namespace, r.Name)
			}
			set(e.Name, v)
		case e.ValueFrom.FieldRef != nil:
			v, err := rt.fieldRef(p, e.ValueFrom.FieldRef.FieldPath)
			if err != nil {
				return nil, err
			}
			set(e.Name, v)
		default:
			return nil, fmt.Errorf("env %s: only value, secretKeyRef, configMapKeyRef and fieldRef are supported", e.Name)
		}
	}
	if p.Spec.SetHostnameAsFQDN == nil && vals["JOB_COMPLETION_INDEX"] == "" {
		if idx, ok := p.Annotations["batch.kubernetes.io/job-completion-index"]; ok {
			set("JOB_COMPLETION_INDEX", idx)
		}
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vals[k])
	}
	return out, nil
}

// ---------------------------------------------------------------------- volumes

type mount struct {
	src, dst string
	ro, file bool
}

func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func writeFiles(dir string, files map[string][]byte, items []v1.KeyToPath, mode *int32) error {
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	m := os.FileMode(0o644)
	if mode != nil {
		m = os.FileMode(*mode)
	}
	write := func(rel string, b []byte, fm os.FileMode) error {
		path := filepath.Join(dir, filepath.Clean("/"+rel))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		return os.WriteFile(path, b, fm)
	}
	if len(items) == 0 {
		for k, v := range files {
			if err := write(k, v, m); err != nil {
				return err
			}
		}
		return nil
	}
	for _, it := range items {
		v, ok := files[it.Key]
		if !ok {
			return fmt.Errorf("key %q not found", it.Key)
		}
		fm := m
		if it.Mode != nil {
			fm = os.FileMode(*it.Mode)
		}
		if err := write(it.Path, v, fm); err != nil {
			return err
		}
	}
	return nil
}

// writeAtomic lays out a Secret or ConfigMap volume as the real kubelet's
// AtomicWriter does: the files in a hidden folder "..<time>", a link "..data"
// to it, and each top-level name a link through "..data". A change writes a new
// folder and renames a fresh link over "..data" (rename(2) is atomic), so a
// reader sees the whole old or the whole new payload, never a mix; the old
// folder is removed afterwards. Unchanged content writes nothing. The folder
// itself is never replaced: it is bind-mounted into the running container.
// volumeResyncPeriod: how often volumeResyncLoop looks at running pods.
const volumeResyncPeriod = 2 * time.Second

func writeAtomic(dir string, files map[string][]byte, items []v1.KeyToPath, mode *int32) error {
	payload := map[string][]byte{}
	modes := map[string]os.FileMode{}
	m := os.FileMode(0o644)
	if mode != nil {
		m = os.FileMode(*mode)
	}
	if len(items) == 0 {
		for k, v := range files {
			payload[k], modes[k] = v, m
		}
	} else {
		for _, it := range items {
			v, ok := files[it.Key]
			if !ok {
				return fmt.Errorf("key %q not found", it.Key)
			}
			rel := strings.TrimPrefix(filepath.Clean("/"+it.Path), "/")
			payload[rel], modes[rel] = v, m
			if it.Mode != nil {
				modes[rel] = os.FileMode(*it.Mode)
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	if old != "" && samePayload(filepath.Join(dir, old), payload) {
		return nil
	}
	ts, err := os.MkdirTemp(dir, ".."+time.Now().UTC().Format("2006_01_02_15_04_05."))
	if err != nil {
		return err
	}
	for rel, b := range payload {
		path := filepath.Join(ts, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, b, modes[rel]); err != nil {
			return err
		}
	}
	tmp := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		return err
	}
	top := map[string]bool{}
	for rel := range payload {
		top[strings.SplitN(rel, "/", 2)[0]] = true
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries { // names of the old payload, and a plain layout's files
		if n := e.Name(); !strings.HasPrefix(n, "..") && !top[n] {
			_ = os.RemoveAll(filepath.Join(dir, n))
		}
	}
	for n := range top {
		link := filepath.Join(dir, n)
		if t, err := os.Readlink(link); err == nil && t == filepath.Join("..data", n) {
			continue
		}
		_ = os.RemoveAll(link)
		if err := os.Symlink(filepath.Join("..data", n), link); err != nil {
			return err
		}
	}
	if old != "" && old != filepath.Base(ts) {
		_ = os.RemoveAll(filepath.Join(dir, old))
	}
	return nil
}

// samePayload: whether folder holds exactly payload (names and bytes).
func samePayload(folder string, payload map[string][]byte) bool {
	n := 0
	err := filepath.WalkDir(folder, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(folder, path)
		b, rerr := os.ReadFile(path)
		if want, ok := payload[rel]; !ok || rerr != nil || string(b) != string(want) {
			return fmt.Errorf("differs")
		}
		n++
		return nil
	})
	return err == nil && n == len(payload)
}

// volumeResyncLoop refreshes the Secret and ConfigMap volumes of running pods,
// as the real kubelet's periodic pod sync does (every minute plus its cache's
// TTL there; every volumeResyncPeriod here, so a test sees an update within
// seconds): an updated object's files are swapped atomically (writeAtomic);
// a deleted one leaves the last files in place, as the real kubelet does.
// Environment variables never change (real kubelet alike).
func (k *kubelet) volumeResyncLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(volumeResyncPeriod):
		}
		k.mu.Lock()
		rts := make([]*podRT, 0, len(k.pods))
		for _, rt := range k.pods {
			rts = append(rts, rt)
		}
		k.mu.Unlock()
		for _, rt := range rts {
			rt.mu.Lock()
			p, killing := rt.pod, rt.killing
			rt.mu.Unlock()
			if killing || p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed {
				continue
			}
			for _, v := range p.Spec.Volumes {
				dir := filepath.Join(rt.dir, "volumes", v.Name)
				if _, err := os.Lstat(filepath.Join(dir, "..data")); err != nil {
					continue // not laid out yet (the container has not started)
				}
				switch {
				case v.Secret != nil:
					s, err := k.cs.CoreV1().Secrets(p.Namespace).Get(ctx, v.Secret.SecretName, metav1.GetOptions{})
					if err == nil {
						if err := writeAtomic(dir, s.Data, v.Secret.Items, v.Secret.DefaultMode); err != nil {
							logf("pod %s/%s: volume %s: refresh: %v", p.Namespace, p.Name, v.Name, err)
						}
					}
				case v.ConfigMap != nil:
					m, err := k.cs.CoreV1().ConfigMaps(p.Namespace).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
					if err == nil {
						if err := writeAtomic(dir, cmFiles(m), v.ConfigMap.Items, v.ConfigMap.DefaultMode); err != nil {
							logf("pod %s/%s: volume %s: refresh: %v", p.Namespace, p.Name, v.Name, err)
						}
					}
				}
			}
		}
	}
}

func (rt *podRT) volumeSource(v v1.Volume) (string, error) {
	ctx := context.Background()
	cs := rt.k.cs
	p := rt.pod
	dir := filepath.Join(rt.dir, "volumes", v.Name)
	switch {
	case v.EmptyDir != nil:
		return dir, os.MkdirAll(dir, 0o755)
	case v.HostPath != nil:
		return v.HostPath.Path, nil
	case v.PersistentVolumeClaim != nil:
		pvc, err := cs.CoreV1().PersistentVolumeClaims(p.Namespace).Get(ctx, v.PersistentVolumeClaim.ClaimName, metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("persistentvolumeclaim %q: %v", v.PersistentVolumeClaim.ClaimName, err)
		}
		if pvc.Spec.VolumeName == "" {
			return "", fmt.Errorf("persistentvolumeclaim %q is not bound", pvc.Name)
		}
		pv, err := cs.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		if pv.Spec.HostPath == nil {
			return "", fmt.Errorf("persistentvolume %q has no hostPath", pv.Name)
		}
		return pv.Spec.HostPath.Path, os.MkdirAll(pv.Spec.HostPath.Path, 0o755)
	case v.Secret != nil:
		s, err := cs.CoreV1().Secrets(p.Namespace).Get(ctx, v.Secret.SecretName, metav1.GetOptions{})
		if err != nil {
			if absentAndOptional(err, v.Secret.Optional) {
				return dir, writeFiles(dir, nil, nil, nil)
			}
			return "", refError("secret", v.Secret.SecretName, err)
		}
		return dir, writeAtomic(dir, s.Data, v.Secret.Items, v.Secret.DefaultMode)
	case v.ConfigMap != nil:
		m, err := cs.CoreV1().ConfigMaps(p.Namespace).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
		if err != nil {
			if absentAndOptional(err, v.ConfigMap.Optional) {
				return dir, writeFiles(dir, nil, nil, nil)
			}
			return "", refError("configmap", v.ConfigMap.Name, err)
		}
		return dir, writeAtomic(dir, cmFiles(m), v.ConfigMap.Items, v.ConfigMap.DefaultMode)
	case v.Projected != nil:
		_ = os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		for _, src := range v.Projected.Sources {
			files := map[string][]byte{}
			var items []v1.KeyToPath
			switch {
			case src.ServiceAccountToken != nil:
				exp := int64(3600)
				if src.ServiceAccountToken.ExpirationSeconds != nil {
					exp = *src.ServiceAccountToken.ExpirationSeconds
				}
				sa := p.Spec.ServiceAccountName
				if sa == "" {
					sa = "default"
				}
				tr, err := cs.CoreV1().ServiceAccounts(p.Namespace).CreateToken(ctx, sa, authTokenRequest{
					audience: src.ServiceAccountToken.Audience, exp: exp, pod: p}.build(), metav1.CreateOptions{})
				if err != nil {
					return "", fmt.Errorf("service account token for %s: %v", sa, err)
				}
				files[src.ServiceAccountToken.Path] = []byte(tr.Status.Token)
			case src.ConfigMap != nil:
				m, err := cs.CoreV1().ConfigMaps(p.Namespace).Get(ctx, src.ConfigMap.Name, metav1.GetOptions{})
				if err != nil {
					if absentAndOptional(err, src.ConfigMap.Optional) {
						continue
					}
					return "", refError("configmap", src.ConfigMap.Name, err)
				}
				all := cmFiles(m)
				items = src.ConfigMap.Items
				if len(items) == 0 {
					files = all
				} else {
					for _, it := range items {
						files[it.Path] = all[it.Key]
					}
				}
			case src.Secret != nil:
				s, err := cs.CoreV1().Secrets(p.Namespace).Get(ctx, src.Secret.Name, metav1.GetOptions{})
				if err != nil {
					if absentAndOptional(err, src.Secret.Optional) {
						continue
					}
					return "", refError("secret", src.Secret.Name, err)
				}
				if len(src.Secret.Items) == 0 {
					files = s.Data
				} else {
					for _, it := range src.Secret.Items {
						files[it.Path] = s.Data[it.Key]
					}
				}
			case src.DownwardAPI != nil:
				for _, it := range src.DownwardAPI.Items {
					if it.FieldRef != nil {
						val, err := rt.fieldRef(p, it.FieldRef.FieldPath)
						if err != nil {
							return "", err
						}
						files[it.Path] = []byte(val)
					}
				}
			}
			for name, b := range files {
				path := filepath.Join(dir, filepath.Clean("/"+name))
				_ = os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, b, 0o644); err != nil {
					return "", err
				}
			}
		}
		return dir, nil
	case v.DownwardAPI != nil:
		files := map[string][]byte{}
		for _, it := range v.DownwardAPI.Items {
			if it.FieldRef != nil {
				val, err := rt.fieldRef(p, it.FieldRef.FieldPath)
				if err != nil {
					return "", err
				}
				files[it.Path] = []byte(val)
			}
		}
		return dir, writeFiles(dir, files, nil, v.DownwardAPI.DefaultMode)
	}
	return "", fmt.Errorf("volume %q: type not supported by the process kubelet", v.Name)
}

func cmFiles(m *v1.ConfigMap) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range m.Data {
		out[k] = []byte(v)
	}
	for k, v := range m.BinaryData {
		out[k] = v
	}
	return out
}

func (rt *podRT) prepareMounts(c *ctrRT) ([]mount, error) {
	srcs := map[string]string{}
	for _, v := range rt.pod.Spec.Volumes {
		used := false
		for _, vm := range c.spec.VolumeMounts {
			used = used || vm.Name == v.Name
		}
		if !used {
			continue
		}
		s, err := rt.volumeSource(v)
		if err != nil {
			return nil, err
		}
		srcs[v.Name] = s
	}
	var out []mount
	for _, vm := range c.spec.VolumeMounts {
		s, ok := srcs[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volumeMount %q names no volume of the pod", vm.Name)
		}
		if vm.SubPath != "" {
			s = filepath.Join(s, filepath.Clean("/"+vm.SubPath))
			if _, err := os.Stat(s); os.IsNotExist(err) {
				_ = os.MkdirAll(s, 0o755)
			}
		}
		fi, err := os.Stat(s)
		if err != nil {
			return nil, fmt.Errorf("volume %q: %v", vm.Name, err)
		}
		out = append(out, mount{src: s, dst: vm.MountPath, ro: vm.ReadOnly, file: !fi.IsDir()})
	}
	return out, nil
}

type authTokenRequest struct {
	audience string
	exp      int64
	pod      *v1.Pod
}

// ---------------------------------------------------------------------- PVCs, services

// provision binds a pending PVC to a new hostPath PV under RUN_DIR/controlplane/pvc
// (pre-bound through claimRef; the real PV controller completes the binding).
func (k *kubelet) provision(pvc *v1.PersistentVolumeClaim) {
	if pvc.Spec.VolumeName != "" || pvc.Status.Phase == v1.ClaimBound || pvc.DeletionTimestamp != nil {
		return
	}
	name := "pvc-" + string(pvc.UID)
	ctx := context.Background()
	if _, err := k.pcs.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{}); err == nil {
		return
	}
	path := filepath.Join(k.pvcDir, pvc.Namespace, pvc.Name+"-"+string(pvc.UID)[:8])
	if err := os.MkdirAll(path, 0o755); err != nil {
		logf("kubelet: pvc %s/%s: %v", pvc.Namespace, pvc.Name, err)
		return
	}
	size := pvc.Spec.Resources.Requests[v1.ResourceStorage]
	if size.IsZero() {
		size = resource.MustParse("1Gi")
	}
	modes := pvc.Spec.AccessModes
	if len(modes) == 0 {
		modes = []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce}
	}
	class := ""
	if pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	}
	hpt := v1.HostPathDirectoryOrCreate
	pv := &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"lifeboat.dev/provisioner": "process-kubelet"}},
		Spec: v1.PersistentVolumeSpec{
			Capacity:                      v1.ResourceList{v1.ResourceStorage: size},
			AccessModes:                   modes,
			PersistentVolumeReclaimPolicy: v1.PersistentVolumeReclaimRetain,
			StorageClassName:              class,
			VolumeMode:                    pvc.Spec.VolumeMode,
			ClaimRef: &v1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID},
			PersistentVolumeSource: v1.PersistentVolumeSource{HostPath: &v1.HostPathVolumeSource{Path: path, Type: &hpt}},
		},
	}
	if _, err := k.pcs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		logf("kubelet: pv for %s/%s: %v", pvc.Namespace, pvc.Name, err)
	}
}

// reclaimLoop deletes the PVs (and their folders) this provisioner made once their
// claim is gone (status Released).
func (k *kubelet) reclaimLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
		pvs, err := k.pcs.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{LabelSelector: "lifeboat.dev/provisioner=process-kubelet"})
		if err != nil {
			continue
		}
		for _, pv := range pvs.Items {
			if pv.Status.Phase != v1.VolumeReleased {
				continue
			}
			if err := k.pcs.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{}); err == nil && pv.Spec.HostPath != nil &&
				strings.HasPrefix(pv.Spec.HostPath.Path, k.pvcDir+"/") {
				_ = os.RemoveAll(pv.Spec.HostPath.Path)
			}
		}
	}
}

// serviceMapLoop writes services.json: "<svc>.<ns>.svc" (the first port) and
// "<svc>.<ns>.svc:<port>" -> "127.0.0.1:<host port>" of the first ready pod the
// Service selects (kubesim's format, read by the scenarios and LIFEBOAT_SERVICE_MAP).
func (k *kubelet) serviceMapLoop(ctx context.Context) {
	path := filepath.Join(k.cfg.dir, "services.json")
	last := ""
	for {
		m := map[string]string{}
		k.mu.Lock()
		rts := make([]*podRT, 0, len(k.pods))
		for _, rt := range k.pods {
			rts = append(rts, rt)
		}
		k.mu.Unlock()
		sort.Slice(rts, func(i, j int) bool { return rts[i].name < rts[j].name })
		for _, o := range k.svcInf.GetStore().List() {
			svc := o.(*v1.Service)
			if len(svc.Spec.Selector) == 0 || len(svc.Spec.Ports) == 0 {
				continue
			}
			for _, rt := range rts {
				rt.mu.Lock()
				p := rt.pod
				ready := p.Namespace == svc.Namespace && !rt.killing && p.DeletionTimestamp == nil
				for key, want := range svc.Spec.Selector {
					ready = ready && p.Labels[key] == want
				}
				if ready {
					st := rt.statusLocked()
					ready = st.Phase == v1.PodRunning && st.Conditions[3].Status == v1.ConditionTrue
				}
				ports := rt.ports
				rt.mu.Unlock()
				if !ready {
					continue
				}
				host := svc.Name + "." + svc.Namespace + ".svc"
				for i, sp := range svc.Spec.Ports {
					tp := sp.TargetPort
					if tp.String() == "0" || tp.String() == "" {
						tp = intstr.FromInt32(sp.Port)
					}
					hp, ok := ports[tp.String()]
					if !ok {
						continue
					}
					addr := fmt.Sprintf("127.0.0.1:%d", hp)
					if i == 0 {
						m[host] = addr
					}
					m[fmt.Sprintf("%s:%d", host, sp.Port)] = addr
				}
				break
			}
		}
		b, _ := json.Marshal(m)
		if string(b) != last {
			tmp := path + ".tmp"
			if os.WriteFile(tmp, b, 0o644) == nil && os.Rename(tmp, path) == nil {
				last = string(b)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// ---------------------------------------------------------------------- streaming server

func (k *kubelet) lookup(ns, name, container string) (*podRT, *ctrRT, error) {
	k.mu.Lock()
	var rt *podRT
	for _, r := range k.pods {
		if r.ns == ns && r.name == name {
			rt = r
		}
	}
	k.mu.Unlock()
	if rt == nil {
		return nil, nil, fmt.Errorf("pod %s/%s is not running on %s", ns, name, nodeName)
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	all := append(append([]*ctrRT{}, rt.ctrs...), rt.inits...)
	if container == "" && len(rt.ctrs) > 0 {
		return rt, rt.ctrs[0], nil
	}
	for _, c := range all {
		if c.name == container {
			return rt, c, nil
		}
	}
	return nil, nil, fmt.Errorf("container %s is not valid for pod %s", container, name)
}

type streamer struct{ k *kubelet }

func splitName(podName string) (string, string) {
	if i := strings.IndexByte(podName, '/'); i > 0 {
		return podName[:i], podName[i+1:]
	}
	return "", podName
}

func (s streamer) ExecInContainer(ctx context.Context, podName string, _ types.UID, container string, cmdv []string,
	in io.Reader, out, errw io.WriteCloser, tty bool, _ <-chan clientremotecommand.TerminalSize, _ time.Duration) error {
	ns, name := splitName(podName)
	rt, c, err := s.k.lookup(ns, name, container)
	if err != nil {
		return err
	}
	rt.mu.Lock()
	pid, running, env, wd := c.pid, c.running, c.env, c.spec.WorkingDir
	rt.mu.Unlock()
	if !running {
		return fmt.Errorf("container %s is not running", container)
	}
	wdArg := "-w"
	if wd != "" {
		wdArg = "--wd=" + wd
	}
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"-t", strconv.Itoa(pid), "-m", wdArg, "--"}, cmdv...)...)
	cmd.Env, cmd.Dir = env, "/"
	// stdin through our own pipe, not exec's copy loop: exec.Cmd.Wait waits for that loop,
	// and a v4.channel.k8s.io client cannot close stdin, so the exec would never end after
	// its process did. The copier is left blocked on the stream, which ServeExec closes.
	var stdinW *os.File
	if in != nil {
		pr, pw, perr := os.Pipe()
		if perr != nil {
			return perr
		}
		stdinW = pw
		defer pw.Close()
		defer pr.Close()
		cmd.Stdin = pr
		go func() {
			_, _ = io.Copy(pw, in)
			_ = pw.Close()
		}()
	}
	if out != nil {
		cmd.Stdout = out
	}
	if errw != nil {
		cmd.Stderr = errw
	} else if tty {
		cmd.Stderr = out
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Run()
	if stdinW != nil {
		_ = stdinW.Close() // the process is gone: a late stdin write fails, the copier ends
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return utilexec.CodeExitError{Err: err, Code: ee.ExitCode()}
	}
	return err
}

func (s streamer) AttachContainer(ctx context.Context, podName string, _ types.UID, container string,
	_ io.Reader, out, errw io.WriteCloser, _ bool, _ <-chan clientremotecommand.TerminalSize) error {
	ns, name := splitName(podName)
	rt, c, err := s.k.lookup(ns, name, container)
	if err != nil {
		return err
	}
	f, err := os.Open(filepath.Join(rt.dir, c.name+".log"))
	if err != nil {
		return err
	}
	defer f.Close()
	_, _ = f.Seek(0, io.SeekEnd)
	w := out
	if w == nil {
		w = errw
	}
	buf := make([]byte, 32<<10)
	for {
		n, _ := f.Read(buf)
		if n > 0 && w != nil {
			if _, err := w.Write(buf[:n]); err != nil {
				return nil
			}
			continue
		}
		rt.mu.Lock()
		running := c.running
		rt.mu.Unlock()
		if !running {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (k *kubelet) serveLogs(w http.ResponseWriter, r *http.Request, ns, name, container string) {
	rt, c, err := k.lookup(ns, name, container)
	var path string
	if err != nil {
		// a pod that finished before this kubelet (re)started: its files remain
		path = filepath.Join(k.podsDir, ns, name, container+".log")
		if _, serr := os.Stat(path); serr != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
	} else {
		path = filepath.Join(rt.dir, c.name+".log")
	}
	q := r.URL.Query()
	if q.Get("previous") == "true" {
		path = strings.TrimSuffix(path, ".log") + ".previous.log"
	}
	f, err := os.Open(path)
	if err != nil {
		http.Error(w, "no logs: "+err.Error(), http.StatusNotFound)
		return
	}
	defer f.Close()
	limit := int64(logBodyMax)
	if v, err := strconv.ParseInt(q.Get("limitBytes"), 10, 64); err == nil && v > 0 && v < limit {
		limit = v
	}
	if v, err := strconv.Atoi(q.Get("tailLines")); err == nil && v >= 0 {
		seekTail(f, v)
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(200)
	fl, _ := w.(http.Flusher)
	sent := int64(0)
	buf := make([]byte, 32<<10)
	follow := q.Get("follow") == "true" && rt != nil
	for sent < limit {
		n, _ := f.Read(buf)
		if n > 0 {
			if int64(n) > limit-sent {
				n = int(limit - sent)
			}
			if _, err := w.Write(buf[:n]); err != nil {
				return
			}
			sent += int64(n)
			if fl != nil {
				fl.Flush()
			}
			continue
		}
		if !follow {
			return
		}
		rt.mu.Lock()
		running := c.running
		rt.mu.Unlock()
		if !running {
			// drain what the exit left, then end
			rest, _ := io.ReadAll(io.LimitReader(f, limit-sent))
			_, _ = w.Write(rest)
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// seekTail positions f at the start of its last n lines.
func seekTail(f *os.File, n int) {
	fi, err := f.Stat()
	if err != nil {
		return
	}
	size := fi.Size()
	if n == 0 {
		_, _ = f.Seek(size, io.SeekStart)
		return
	}
	br := bufio.NewReader(f)
	var offs []int64
	off := int64(0)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			offs = append(offs, off)
			off += int64(len(line))
		}
		if err != nil {
			break
		}
	}
	start := int64(0)
	if len(offs) > n {
		start = offs[len(offs)-n]
	}
	_, _ = f.Seek(start, io.SeekStart)
}

func (k *kubelet) serve() {
	mux := http.NewServeMux()
	st := streamer{k: k}
	opts := func(w http.ResponseWriter, r *http.Request) (*remotecommand.Options, bool) {
		o, err := remotecommand.NewOptions(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return nil, false
		}
		return o, true
	}
	// /exec/{ns}/{pod}/{container} and /exec/{ns}/{pod}/{uid}/{container}
	parts := func(p, prefix string) (string, string, string, bool) {
		s := strings.Split(strings.TrimPrefix(p, prefix), "/")
		switch len(s) {
		case 3:
			return s[0], s[1], s[2], true
		case 4:
			return s[0], s[1], s[3], true
		}
		return "", "", "", false
	}
	mux.HandleFunc("/exec/", func(w http.ResponseWriter, r *http.Request) {
		ns, name, ctr, ok := parts(r.URL.Path, "/exec/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		o, ok := opts(w, r)
		if !ok {
			return
		}
		remotecommand.ServeExec(w, r, st, ns+"/"+name, "", ctr, r.URL.Query()["command"], o,
			4*time.Hour, 30*time.Second, remotecommandconsts.SupportedStreamingProtocols)
	})
	mux.HandleFunc("/attach/", func(w http.ResponseWriter, r *http.Request) {
		ns, name, ctr, ok := parts(r.URL.Path, "/attach/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		o, ok := opts(w, r)
		if !ok {
			return
		}
		remotecommand.ServeAttach(w, r, st, ns+"/"+name, "", ctr, o,
			4*time.Hour, 30*time.Second, remotecommandconsts.SupportedStreamingProtocols)
	})
	mux.HandleFunc("/containerLogs/", func(w http.ResponseWriter, r *http.Request) {
		s := strings.Split(strings.TrimPrefix(r.URL.Path, "/containerLogs/"), "/")
		if len(s) != 3 {
			http.NotFound(w, r)
			return
		}
		k.serveLogs(w, r, s[0], s[1], s[2])
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(k.cfg.p("ca.crt"))
	if err != nil {
		fatal(err)
	}
	pool.AppendCertsFromPEM(caPEM)
	srv := &http.Server{
		Addr:    fmt.Sprintf("127.0.0.1:%d", k.cfg.kletPort),
		Handler: mux,
		TLSConfig: &tls.Config{ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
			NextProtos: []string{"http/1.1"}}, // SPDY upgrades need HTTP/1.1
		ReadHeaderTimeout: 30 * time.Second,
	}
	if err := srv.ListenAndServeTLS(k.cfg.p("kubelet.crt"), k.cfg.p("kubelet.key")); err != nil {
		fatal(err)
	}
}

// ---------------------------------------------------------------------- helpers

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// procStart is field 22 of /proc/pid/stat (start time in ticks), so a recycled pid is
// never taken for a pod process.
func procStart(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "0"
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "0"
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return "0"
	}
	return f[19]
}

// sweepPods kills the process groups recorded in RUN_DIR/controlplane/pods/*/*/*.pid
// whose start time still matches (a kubelet that died left them).
func sweepPods(cfg *config) {
	files, _ := filepath.Glob(filepath.Join(cfg.dir, "pods", "*", "*", "*.pid"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		fs := strings.Fields(string(b))
		if len(fs) != 2 {
			continue
		}
		pid, err := strconv.Atoi(fs[0])
		if err != nil || pid <= 1 {
			continue
		}
		if procStart(pid) == fs[1] {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
		_ = os.Remove(f)
	}
}

func (a authTokenRequest) build() *authenticationv1.TokenRequest {
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &a.exp,
		BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1",
			Name: a.pod.Name, UID: a.pod.UID},
	}}
	if a.audience != "" {
		tr.Spec.Audiences = []string{a.audience}
	}
	return tr
}
