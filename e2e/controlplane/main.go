// lifeboat-controlplane: the real Kubernetes v1.32 control plane for Lifeboat's
// end-to-end tests, in one binary (see README.md).
//
//	lifeboat-controlplane up RUN_DIR        supervisor: PKI, then etcd, kube-apiserver,
//	                                        kube-controller-manager, kube-scheduler and the
//	                                        process kubelet, each a child process of this
//	                                        binary, restarted when it dies
//	lifeboat-controlplane kubeconfig RUN_DIR USER [GROUP...]
//	                                        a kubeconfig for USER (client certificate,
//	                                        CN=USER, O=GROUP...) on stdout's path
//	lifeboat-controlplane compact RUN_DIR   compacts etcd at its current revision
//	lifeboat-controlplane sweep RUN_DIR     kills pod processes a dead kubelet left
//
// The child subcommands (etcd, apiserver, controller-manager, scheduler, kubelet) are
// started by `up`. Ports come from the environment (LIFEBOAT_CP_*_PORT, see config()).
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

const nodeName = "lifeboat-node"

// pvProvisionerUser is the identity of the kubelet process's PV provisioner (its own
// client certificate; the kubelet itself acts as system:node:<nodeName>).
const pvProvisionerUser = "system:lifeboat-pv-provisioner"

type config struct {
	runDir    string // RUN_DIR (as given to up)
	dir       string // RUN_DIR/controlplane
	pki       string
	apiPort   int
	etcdPort  int
	peerPort  int
	kletPort  int
	cmPort    int
	schedPort int
	binDir    string
	repo      string
}

func envPort(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 && n < 65536 {
			return n
		}
		fmt.Fprintf(os.Stderr, "lifeboat-controlplane: %s=%q is not a port (1..65535)\n", name, v)
		os.Exit(2)
	}
	return def
}

func loadConfig(runDir string) *config {
	abs, err := filepath.Abs(runDir)
	if err != nil {
		fatal(err)
	}
	exe, _ := os.Executable()
	repo := os.Getenv("LIFEBOAT_REPO")
	if repo == "" {
		// build/controlplane/lifeboat-controlplane -> the repository
		repo = filepath.Clean(filepath.Join(filepath.Dir(exe), "..", ".."))
	}
	bin := os.Getenv("LIFEBOAT_BIN_DIR")
	if bin == "" {
		bin = filepath.Join(repo, "bin")
	}
	d := filepath.Join(abs, "controlplane")
	return &config{
		runDir: abs, dir: d, pki: filepath.Join(d, "pki"),
		apiPort:   envPort("LIFEBOAT_CP_APISERVER_PORT", 6443),
		etcdPort:  envPort("LIFEBOAT_CP_ETCD_PORT", 2379),
		peerPort:  envPort("LIFEBOAT_CP_ETCD_PEER_PORT", 2380),
		kletPort:  envPort("LIFEBOAT_CP_KUBELET_PORT", 10250),
		cmPort:    envPort("LIFEBOAT_CP_CONTROLLER_MANAGER_PORT", 10257),
		schedPort: envPort("LIFEBOAT_CP_SCHEDULER_PORT", 10259),
		binDir:    bin, repo: repo,
	}
}

func (c *config) p(name string) string  { return filepath.Join(c.pki, name) }
func (c *config) kc(name string) string { return filepath.Join(c.dir, name+".kubeconfig") }
func (c *config) server() string        { return fmt.Sprintf("https://127.0.0.1:%d", c.apiPort) }
func (c *config) etcdURL() string       { return fmt.Sprintf("http://127.0.0.1:%d", c.etcdPort) }
func fatal(err error)                   { fmt.Fprintln(os.Stderr, "lifeboat-controlplane:", err); os.Exit(1) }
func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, time.Now().UTC().Format("15:04:05.000 ")+format+"\n", a...)
}
func usage() {
	fmt.Fprintln(os.Stderr, "usage: lifeboat-controlplane up|kubeconfig|compact|sweep RUN_DIR ...")
	os.Exit(2)
}

func main() {
	if len(os.Args) < 3 {
		usage()
	}
	cfg := loadConfig(os.Args[2])
	switch os.Args[1] {
	case "etcd", "apiserver", "controller-manager", "scheduler", "kubelet":
		setGCPercent()
	}
	switch os.Args[1] {
	case "up":
		runSupervisor(cfg)
	case "etcd":
		runEtcd(cfg)
	case "apiserver":
		runCobra(apiserver.NewAPIServerCommand(), apiserverArgs(cfg))
	case "controller-manager":
		runCobra(controllermanager.NewControllerManagerCommand(), controllerManagerArgs(cfg))
	case "scheduler":
		runCobra(scheduler.NewSchedulerCommand(), schedulerArgs(cfg))
	case "kubelet":
		runKubelet(cfg)
	case "kubeconfig":
		if len(os.Args) < 4 {
			usage()
		}
		path, err := userKubeconfig(cfg, os.Args[3], os.Args[4:])
		if err != nil {
			fatal(err)
		}
		fmt.Println(path)
	case "compact":
		if err := compactEtcd(cfg); err != nil {
			fatal(err)
		}
	case "sweep":
		sweepPods(cfg)
	default:
		usage()
	}
}

// setGCPercent: the components run with GOGC=200 (Go's default is 100) unless GOGC or
// LIFEBOAT_CP_GOGC is set: half as many garbage collections for some more heap (measured
// in README.md). Set here, not in the environment, so that pods never inherit it.
func setGCPercent() {
	if os.Getenv("GOGC") != "" {
		return
	}
	pct, err := strconv.Atoi(envOr("LIFEBOAT_CP_GOGC", "200"))
	if err != nil {
		fatal(fmt.Errorf("LIFEBOAT_CP_GOGC: %v", err))
	}
	debug.SetGCPercent(pct)
}

type cobraCmd interface {
	SetArgs([]string)
	ExecuteContext(context.Context) error
}

func runCobra(cmd cobraCmd, args []string) {
	cmd.SetArgs(args)
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	if err := cmd.ExecuteContext(ctx); err != nil {
		fatal(err)
	}
}

// ---------------------------------------------------------------------- PKI, kubeconfigs

func ensurePKI(cfg *config) error {
	if err := os.MkdirAll(cfg.pki, 0o700); err != nil {
		return err
	}
	c, err := loadOrCreateCA(cfg.pki)
	if err != nil {
		return err
	}
	dns := []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc.cluster.local", nodeName}
	for _, x := range []struct {
		base, cn string
		orgs     []string
		server   bool
	}{
		{"apiserver", "kube-apiserver", nil, true},
		{"apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}, false},
		{"admin", "lifeboat-admin", []string{"system:masters"}, false},
		{"controller-manager", "system:kube-controller-manager", nil, false},
		{"scheduler", "system:kube-scheduler", nil, false},
		{"kubelet", "system:node:" + nodeName, []string{"system:nodes"}, true},
		{"pv-provisioner", pvProvisionerUser, nil, false},
	} {
		if err := c.issue(cfg.pki, x.base, x.cn, x.orgs, x.server, dns); err != nil {
			return err
		}
	}
	if err := ensureSAKey(cfg.pki); err != nil {
		return err
	}
	for _, k := range []string{"controller-manager", "scheduler", "kubelet", "pv-provisioner"} {
		if err := writeKubeconfig(cfg.kc(k), cfg.server(), cfg.p("ca.crt"), cfg.p(k+".crt"),
			cfg.p(k+".key"), "", k); err != nil {
			return err
		}
	}
	// Bearer tokens (--token-auth-file) for the admin and the preset test users: the
	// project's clients (the operator, the tests' raw HTTP helpers) authenticate with a
	// token from the kubeconfig. Any other user: `lifeboat-controlplane kubeconfig`.
	tokPath := cfg.p("tokens.csv")
	toks := map[string]string{}
	if b, err := os.ReadFile(tokPath); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.SplitN(line, ",", 3); len(f) == 3 {
				toks[f[1]] = f[0]
			}
		}
	}
	var csv strings.Builder
	for _, u := range presetUsers {
		t := toks[u.name]
		if t == "" {
			buf := make([]byte, 24)
			if _, err := rand.Read(buf); err != nil {
				return err
			}
			t = hex.EncodeToString(buf)
		}
		fmt.Fprintf(&csv, "%s,%s,%s,\"%s\"\n", t, u.name, u.name, u.groups)
		path := cfg.kc(u.name)
		if u.name != "admin" {
			path = filepath.Join(cfg.dir, "users", u.name+".kubeconfig")
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		if err := writeKubeconfig(path, cfg.server(), cfg.p("ca.crt"), "", "", t, u.name); err != nil {
			return err
		}
	}
	return os.WriteFile(tokPath, []byte(csv.String()), 0o600)
}

// presetUsers are in the API server's token file: admin (system:masters) and three
// test people with groups a test can grant roles to.
var presetUsers = []struct{ name, groups string }{
	{"admin", "system:masters"},
	{"alice", "lifeboat-approvers"},
	{"bob", "developers"},
	{"carol", ""},
}

// userKubeconfig issues a client certificate CN=user, O=groups and writes
// RUN_DIR/controlplane/users/<user>.kubeconfig; returns its path.
func userKubeconfig(cfg *config, user string, groups []string) (string, error) {
	c, err := loadOrCreateCA(cfg.pki)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cfg.dir, "users")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	base := filepath.Base(user)
	for _, f := range []string{base + ".crt", base + ".key"} {
		_ = os.Remove(filepath.Join(dir, f))
	}
	if err := c.issue(dir, base, user, groups, false, nil); err != nil {
		return "", err
	}
	path := filepath.Join(dir, base+".kubeconfig")
	return path, writeKubeconfig(path, cfg.server(), cfg.p("ca.crt"), filepath.Join(dir, base+".crt"),
		filepath.Join(dir, base+".key"), "", user)
}

// ---------------------------------------------------------------------- components

func runEtcd(cfg *config) {
	ec := embed.NewConfig()
	ec.Name = "lifeboat"
	ec.Dir = filepath.Join(cfg.dir, "etcd")
	cu, _ := parseURL(cfg.etcdURL())
	pu, _ := parseURL(fmt.Sprintf("http://127.0.0.1:%d", cfg.peerPort))
	ec.ListenClientUrls, ec.AdvertiseClientUrls = cu, cu
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = pu, pu
	ec.InitialCluster = fmt.Sprintf("lifeboat=http://127.0.0.1:%d", cfg.peerPort)
	ec.LogLevel = "error"
	ec.UnsafeNoFsync = true // test data only: speed over durability
	ec.QuotaBackendBytes = 2 << 30
	e, err := embed.StartEtcd(ec)
	if err != nil {
		fatal(err)
	}
	select {
	case <-e.Server.ReadyNotify():
		logf("etcd: ready on %s", cfg.etcdURL())
	case <-time.After(60 * time.Second):
		fatal(fmt.Errorf("etcd did not become ready within 60 s"))
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sig:
	case err := <-e.Err():
		logf("etcd: %v", err)
	}
	e.Close()
}

func compactEtcd(cfg *config) error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{cfg.etcdURL()}, DialTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := cli.Get(ctx, "compact-probe")
	if err != nil {
		return err
	}
	if _, err := cli.Compact(ctx, r.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		return err
	}
	fmt.Println(r.Header.Revision)
	return nil
}

func apiserverArgs(cfg *config) []string {
	return []string{
		"--etcd-servers=" + cfg.etcdURL(),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(cfg.apiPort),
		"--tls-cert-file=" + cfg.p("apiserver.crt"),
		"--tls-private-key-file=" + cfg.p("apiserver.key"),
		"--client-ca-file=" + cfg.p("ca.crt"),
		"--token-auth-file=" + cfg.p("tokens.csv"),
		"--kubelet-client-certificate=" + cfg.p("apiserver-kubelet-client.crt"),
		"--kubelet-client-key=" + cfg.p("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority=" + cfg.p("ca.crt"),
		"--kubelet-preferred-address-types=InternalIP",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + cfg.p("sa.pub"),
		"--service-account-signing-key-file=" + cfg.p("sa.key"),
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction,ValidatingAdmissionPolicy",
		"--allow-privileged=true",
		"--profiling=false",
		"--endpoint-reconciler-type=none",
		// API Priority and Fairness off: one client set, no test looks at flow schemas or
		// priority levels; the max-in-flight limits (400/200) apply instead. Saves the
		// per-request classification, the APF config controller and its bootstrap objects.
		"--enable-priority-and-fairness=false",
		// no kube-apiserver identity Lease (a write every 10 s, and its GC) for one server
		"--feature-gates=APIServerIdentity=false",
		"--v=" + envOr("LIFEBOAT_CP_VERBOSITY", "0"),
	}
}

// controllers: only what the suites, deploy/ and the operator use (README.md says why
// each is there); LIFEBOAT_CP_CONTROLLERS overrides the list (the set before issue 9's
// cut: "*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller").
// Left out: endpoints, endpointslice(-mirroring) (the kubelet writes the Service
// map itself), daemonset, cronjob, replicationcontroller, horizontal-pod-autoscaler,
// disruption, resourcequota, taint-eviction (one node that heartbeats itself),
// pod-garbage-collector, ttl, attach-detach, persistentvolume-expander,
// ephemeral-volume, the certificatesigningrequest controllers, serviceaccount-token
// (legacy token Secrets; tokens come from the TokenRequest API) and its cleaner.
var controllers = []string{
	"deployment-controller", "replicaset-controller", "statefulset-controller",
	"job-controller", "ttl-after-finished-controller",
	"garbage-collector-controller", "namespace-controller",
	"serviceaccount-controller", "root-ca-certificate-publisher-controller",
	"persistentvolume-binder-controller", "persistentvolumeclaim-protection-controller",
	"persistentvolume-protection-controller",
	// the TaintNodesByCondition admission plugin gives a new Node the taint
	// node.kubernetes.io/not-ready:NoSchedule; only this controller takes it off
	"node-lifecycle-controller",
	"clusterrole-aggregation-controller", "validatingadmissionpolicy-status-controller",
}

func controllerManagerArgs(cfg *config) []string {
	return []string{
		"--kubeconfig=" + cfg.kc("controller-manager"),
		"--authentication-kubeconfig=" + cfg.kc("controller-manager"),
		"--authorization-kubeconfig=" + cfg.kc("controller-manager"),
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(cfg.cmPort),
		"--leader-elect=false",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + cfg.p("sa.key"),
		"--root-ca-file=" + cfg.p("ca.crt"),
		"--cluster-signing-cert-file=" + cfg.p("ca.crt"),
		"--cluster-signing-key-file=" + cfg.p("ca.key"),
		"--controllers=" + envOr("LIFEBOAT_CP_CONTROLLERS", strings.Join(controllers, ",")),
		"--concurrent-deployment-syncs=5",
		"--profiling=false",
		"--v=" + envOr("LIFEBOAT_CP_VERBOSITY", "0"),
	}
}

func schedulerArgs(cfg *config) []string {
	return []string{
		"--kubeconfig=" + cfg.kc("scheduler"),
		"--authentication-kubeconfig=" + cfg.kc("scheduler"),
		"--authorization-kubeconfig=" + cfg.kc("scheduler"),
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(cfg.schedPort),
		"--leader-elect=false",
		"--profiling=false",
		"--v=" + envOr("LIFEBOAT_CP_VERBOSITY", "0"),
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// ---------------------------------------------------------------------- supervisor

type child struct {
	name string
	mu   sync.Mutex
	cmd  *exec.Cmd
}

// apiReady polls url with the admin client certificate until it answers 200.
func apiReady(cfg *config, path string, timeout time.Duration) error {
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(cfg.p("ca.crt"))
	if err != nil {
		return err
	}
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(cfg.p("admin.crt"), cfg.p("admin.key"))
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		r, err := hc.Get(cfg.server() + path)
		if err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("%s%s did not answer 200 within %s", cfg.server(), path, timeout)
}

// bootstrapRBAC grants the PV provisioner the built-in ClusterRole
// system:persistent-volume-provisioner (as kubeadm grants its add-ons theirs); run by
// the supervisor as admin once the API server is ready. Safe to run twice.
func bootstrapRBAC(cfg *config) error {
	cs := clientFor(cfg, "admin")
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "lifeboat:pv-provisioner"},
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole",
			Name: "system:persistent-volume-provisioner"},
		Subjects: []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User",
			Name: pvProvisionerUser}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var err error
	for ctx.Err() == nil {
		_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{})
		if err == nil || apierrors.IsAlreadyExists(err) {
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("clusterrolebinding %s: %v", crb.Name, err)
}

func etcdReady(cfg *config, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		r, err := http.Get(cfg.etcdURL() + "/health")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("etcd on %s not healthy within %s", cfg.etcdURL(), timeout)
}

func runSupervisor(cfg *config) {
	if err := os.MkdirAll(filepath.Join(cfg.dir, "logs"), 0o755); err != nil {
		fatal(err)
	}
	if err := ensurePKI(cfg); err != nil {
		fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		fatal(err)
	}
	var stopping bool
	var smu sync.Mutex
	isStopping := func() bool { smu.Lock(); defer smu.Unlock(); return stopping }
	names := []string{"etcd", "apiserver", "controller-manager", "scheduler", "kubelet"}
	children := map[string]*child{}
	start := func(c *child) error {
		logPath := filepath.Join(cfg.dir, "logs", c.name+".log")
		lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		cmd := exec.Command(exe, c.name, cfg.runDir)
		cmd.Stdout, cmd.Stderr = lf, lf
		cmd.Env = os.Environ()
		if err := cmd.Start(); err != nil {
			lf.Close()
			return err
		}
		lf.Close()
		c.mu.Lock()
		c.cmd = cmd
		c.mu.Unlock()
		_ = os.WriteFile(filepath.Join(cfg.dir, c.name+".pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
		logf("supervisor: %s started (pid %d)", c.name, cmd.Process.Pid)
		return nil
	}
	var wg sync.WaitGroup
	// keep restarts a child that exits while the control plane is not stopping: a test
	// kills kube-apiserver (or any component) and the supervisor brings it back.
	keep := func(c *child) {
		defer wg.Done()
		for {
			c.mu.Lock()
			cmd := c.cmd
			c.mu.Unlock()
			err := cmd.Wait()
			if isStopping() {
				return
			}
			logf("supervisor: %s exited (%v); restarting in 1 s", c.name, err)
			time.Sleep(time.Second)
			if isStopping() {
				return
			}
			for start(c) != nil {
				time.Sleep(time.Second)
			}
		}
	}
	stopAll := func() {
		smu.Lock()
		stopping = true
		smu.Unlock()
		for i := len(names) - 1; i >= 0; i-- {
			c := children[names[i]]
			if c == nil {
				continue
			}
			c.mu.Lock()
			cmd := c.cmd
			c.mu.Unlock()
			if cmd == nil || cmd.Process == nil {
				continue
			}
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() {
				for cmd.ProcessState == nil {
					if syscall.Kill(cmd.Process.Pid, 0) != nil {
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
			}
			_ = os.Remove(filepath.Join(cfg.dir, names[i]+".pid"))
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		logf("supervisor: stopping")
		stopAll()
		wg.Wait()
		sweepPods(cfg)
		logf("supervisor: stopped")
		os.Exit(0)
	}()
	t0 := time.Now()
	for _, n := range names {
		c := &child{name: n}
		if err := start(c); err != nil {
			stopAll()
			fatal(err)
		}
		children[n] = c
		wg.Add(1)
		go keep(c)
		switch n {
		case "etcd":
			err = etcdReady(cfg, 60*time.Second)
		case "apiserver":
			err = apiReady(cfg, "/readyz", 120*time.Second)
			if err == nil {
				err = bootstrapRBAC(cfg)
			}
		}
		if err != nil {
			logf("supervisor: %v", err)
			stopAll()
			os.Exit(1)
		}
	}
	logf("supervisor: all components started in %.1f s", time.Since(t0).Seconds())
	_ = os.WriteFile(filepath.Join(cfg.dir, "started"), []byte(time.Now().UTC().Format(time.RFC3339)), 0o644)
	select {}
}
