@kind @epic:kind
Feature: The lab on a real Kubernetes cluster
  A kind cluster whose Kubernetes is built from source runs the lab's node
  configuration: containerd 2.1 with the EROFS snapshotter, fed by the
  kubelet. Workloads are created through kube-apiserver, as a user creates
  them, and reach containerd through the scheduler, the kubelet and CRI.

  @story:apiserver-to-erofs @smoke
  Scenario: A workload created through kube-apiserver runs on read-only EROFS layers
    Given a kind cluster with the "vanilla" profile
    When the workload "app" is started
    Then the apiserver reports the workload "app" Running on a control-plane node
    And the workload "app" runs
    And every layer of "app" is a read-only erofs mount of a layer.erofs file

  @story:two-nodes
  Scenario: A workload placed on the worker of a two-node cluster runs there on EROFS
    Given a kind cluster of a control plane and a worker with the "vanilla" profile
    When the workload "app" is started on the worker node
    Then the apiserver reports the workload "app" Running on a worker node
    And every layer of "app" is a read-only erofs mount of a layer.erofs file

  @story:apiserver-audit
  Scenario: An upstream Falco k8s_audit rule fires on kube-apiserver's own audit events
    Given a kind cluster with the "vanilla" profile
    When the workload "app" is started
    And the workload "privileged-tool" is started
    Then the Falco k8s_audit rule "Create Privileged Pod" fired on kube-apiserver's audit events for "privileged-tool"
    And the Falco k8s_audit rule "Create Privileged Pod" did not fire on kube-apiserver's audit events for "app"
