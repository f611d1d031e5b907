@epic:admission
Feature: Pod Security Standards levels and modes, per namespace label
  Namespaces carry security.deckhouse.io/pod-policy (baseline, restricted)
  and security.deckhouse.io/pod-policy-action (deny, warn, dryrun), as in
  scenarios/policies/namespaces.yaml. On the vanilla control nothing checks
  them and the unsafe pod is created.

  @severity:critical
  Scenario Outline: <level> refuses <what> (<profile>)
    Given a lab node with the "<profile>" profile
    When the workload "<workload>" is submitted in the namespace "<namespace>"
    Then the pod is <result>

    Examples:
      | level      | what                 | workload        | namespace     | profile   | result                                                                                    |
      | restricted | a privileged container | privileged-tool | restricted-ns | vanilla   | created                                                                                   |
      | restricted | a privileged container | privileged-tool | restricted-ns | integrity | refused with "privileged (container \"privileged-tool\" must not set securityContext.privileged=true)" |
      | restricted | a hostPath volume    | host-etc-reader | restricted-ns | vanilla   | created                                                                                   |
      | restricted | a hostPath volume    | host-etc-reader | restricted-ns | integrity | refused with "uses restricted volume type \"hostPath\""                                  |
      | baseline   | a privileged container | privileged-tool | baseline-ns   | vanilla   | created                                                                                   |
      | baseline   | a privileged container | privileged-tool | baseline-ns   | integrity | refused with "privileged (container \"privileged-tool\" must not set securityContext.privileged=true)" |

  Scenario: restricted refuses running as root (vanilla: it runs as uid 0)
    Given a lab node with the "vanilla" profile
    When a pod of "app" that runs as root is submitted in the namespace "restricted-ns"
    Then the pod is created
    And the pod runs as root

  @severity:critical
  Scenario: restricted refuses running as root (integrity)
    Given a lab node with the "integrity" profile
    When a pod of "app" that runs as root is submitted in the namespace "restricted-ns"
    Then the pod is refused with "runAsUser=0 (container \"app\" must not set runAsUser=0)"

  Scenario: baseline admits a benign pod
    Given a lab node with the "integrity" profile
    When the workload "app" is submitted in the namespace "baseline-ns"
    Then the admission webhook admitted the pod
    And the pod was admitted without a warning
    And the pod is created

  Scenario: warn admits a pod that breaks restricted, with a warning
    Given a lab node with the "integrity" profile
    When the workload "app" is submitted in the namespace "warn-ns"
    Then the pod was admitted with the warning "would violate PodSecurity \"restricted:latest\""
    And the pod is created
    And the admission webhook recorded a "warn" decision for the pod

  Scenario: dryrun admits a pod that breaks restricted, silently, and records it
    Given a lab node with the "integrity" profile
    When the workload "app" is submitted in the namespace "dryrun-ns"
    Then the pod was admitted without a warning
    And the pod is created
    And the admission webhook recorded a "dryrun" decision for the pod
