@epic:admission
Feature: Only signed images are admitted into the system namespaces
  On the integrity profile an admission webhook runs in the node and is
  registered the way kube-apiserver would call it (the shipped
  ValidatingWebhookConfiguration, caBundle from the lab CA). In kube-system
  and d8-* every image must carry an attached signature that chains to the
  lab's CA, checked against the manifest in the node registry. On the
  vanilla control there is no admission: the same pods are created.

  @severity:critical
  Scenario Outline: an unsigned image in <namespace> (<profile>)
    Given a lab node with the "<profile>" profile
    When the workload "system-agent" is submitted in the namespace "<namespace>"
    Then the pod is <result>

    Examples:
      | profile   | namespace   | result                                                                                                   |
      | vanilla   | kube-system | created                                                                                                  |
      | integrity | kube-system | refused with "[verify-image-signatures] Image signature verification failed: 127.0.0.1:5000/system/agent:1.0" |
      | vanilla   | d8-system   | created                                                                                                  |
      | integrity | d8-system   | refused with "[verify-image-signatures] Image signature verification failed: 127.0.0.1:5000/system/agent:1.0" |

  Scenario Outline: a signed image is admitted into <namespace> (positive control)
    Given a lab node with the "integrity" profile
    And the lab signs the image of "system-agent" in the "v2" format
    When the workload "system-agent" is submitted in the namespace "<namespace>"
    Then the admission webhook admitted the pod
    And the pod is created

    Examples:
      | namespace   |
      | kube-system |
      | d8-system   |

  Scenario: the refusal is reported as a detection
    Given a lab node with the "integrity" profile
    When the workload "system-agent" is submitted
    Then the pod is refused with "MISSING_SIGNATURE"
    And the admission component reported the refusal

  Scenario: an unsigned image outside the protected namespaces still runs: the check is scoped
    Given a lab node with the "integrity" profile
    When the workload "app" is submitted
    Then the admission webhook admitted the pod
    And the pod is created
