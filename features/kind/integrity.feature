@kind @epic:kind
Feature: The integrity profile on a real Kubernetes cluster
  The node gates and the mount watchdog are installed on every kind node
  before the kubelet starts, and the control-plane images are signed per lab
  by the lab CA, so kube-system stays a protected namespace: the start gate
  admits kube-apiserver, etcd and the rest only from their signatures, with
  read-only roots and no upperdir. Workloads are created through
  kube-apiserver; a refusal reaches the scenario as the kubelet reports it.
  The audit engine runs one daemon beside each node, and the control
  plane's also reads kube-apiserver's own audit log.

  @story:signed-control-plane @smoke
  Scenario: The control plane runs under the start gate from images signed by the lab CA
    Given a kind cluster with the "integrity" profile
    Then the start gate admitted every control-plane container from its lab-CA signature

  @story:kubelet-mounts
  Scenario: A protected container with no upperdir gets the kubelet's own mounts and runs
    Given a kind cluster with the "integrity" profile
    And the lab signs the image of "system-agent" in the "v2" format
    When the workload "system-agent" is started
    Then the workload "system-agent" runs
    And "system-agent" runs with the kubelet's mounts on a root file system with no upperdir

  @story:gate-refusal
  Scenario: An unsigned system image where admission does not look is not pulled, and the kubelet says the pull gate refused it
    In kube-system kube-apiserver's admission webhook refuses the pod first
    (features/kind/admission.feature). Its own namespace is the one the
    webhook leaves out; the pull gate judges the image, not the namespace.
    Given a kind cluster with the "integrity" profile
    When the workload "system-agent" is submitted through kube-apiserver in the namespace "integrity-admission"
    Then the kubelet reports that "system-agent" did not run, with the pull gate's refusal

  @story:gate-refusal
  Scenario: The same unsigned image runs in kube-system on vanilla (the control)
    Given a kind cluster with the "vanilla" profile
    When the workload "system-agent" is submitted through kube-apiserver
    Then the workload "system-agent" runs

  @story:attacks-on-kind
  Scenario Outline: <attack> on a kind node (<profile>)
    Given a kind cluster with the "<profile>" profile
    And the lab signs the image of "<workload>" in the "v2" format
    And the workload "<workload>" is running
    When the attacker carries out "<attack>"
    Then the attack has the outcome expected on this profile

    Examples:
      | attack           | workload     | profile   |
      | overmount-binary | system-agent | vanilla   |
      | overmount-binary | system-agent | integrity |

  @story:enforce-restart
  Scenario: Enforce mode stops an overmounted container, and the kubelet restarts it clean
    Given a kind cluster with the "integrity" profile
    And the lab signs the image of "d8-agent" in the "v2" format
    And the workload "d8-agent" is running
    When the attacker carries out "overmount-binary-enforced"
    Then the attack has the outcome expected on this profile
    And the kubelet restarted "d8-agent" after the watchdog stopped it

  @story:enforce-restart
  Scenario: A layer tampered under a running container in enforce mode: stopped, and the kubelet's restart refused
    Given a kind cluster with the "integrity" profile
    And the lab signs the image of "d8-agent" in the "v2" format
    And the workload "d8-agent" is running
    When the attacker carries out "running-layer-tamper-enforced"
    Then the attack has the outcome expected on this profile
    And the kubelet's restart of "d8-agent" is refused by the start gate, and the report shows the restart count

  @story:two-nodes
  Scenario Outline: An attack on the worker of a two-node cluster is caught there (<profile>)
    Given a kind cluster of a control plane and a worker with the "<profile>" profile
    And the lab signs the image of "system-agent" in the "v2" format
    And the workload "system-agent" is started on the worker node
    When the attacker carries out "overmount-binary"
    Then the attack has the outcome expected on this profile
    And the attack was carried out on the worker node

    Examples:
      | profile   |
      | vanilla   |
      | integrity |

  @story:audit-on-kind @attack
  Scenario: A shell in a container on the worker of a two-node cluster is reported by the worker's own audit daemon
    Given a kind cluster of a control plane and a worker with the "integrity" profile
    And the workload "app" is started on the worker node
    When the attacker carries out "shell-in-app"
    Then the attack has the outcome expected on this profile
    And the attack was carried out on the worker node
    And the audit rule "Shell spawned in a container" raised an alert on the worker node

  @story:audit-on-kind
  Scenario: A pod refused by kube-apiserver reaches the lab's audit daemon as the apiserver's own audit event, where Falco's upstream rule fires
    Given a kind cluster with the "integrity" profile
    And the audit rules "k8s-denied-pods" are loaded
    And Falco's upstream k8s_audit rules are loaded into the audit engine
    When the workload "privileged-tool" is submitted through kube-apiserver in the namespace "baseline-ns"
    Then kube-apiserver refused "privileged-tool" with "privileged"
    And the audit rule "Pod creation denied by admission" raised an alert
    And the audit rule "Create Privileged Pod" raised an alert on kube-apiserver's own audit event for "privileged-tool" in the namespace "baseline-ns"
