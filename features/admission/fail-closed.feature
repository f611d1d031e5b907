@epic:admission
Feature: With the webhook down, nothing is admitted
  The webhook is registered with failurePolicy Fail: when the API server
  cannot call it, the request is refused. An attacker who stops the webhook
  process does not get an unsigned pod into kube-system.

  @severity:critical
  Scenario Outline: an unsigned pod while the webhook is stopped (<profile>)
    Given a lab node with the "<profile>" profile
    When the attacker stops the admission webhook
    And the workload "system-agent" is submitted
    Then the pod is <result>

    Examples:
      | profile   | result                                                                               |
      | vanilla   | created                                                                              |
      | integrity | refused with "Internal error occurred: failed calling webhook \"pods.integrity-lab.deckhouse.io\"" |

  Scenario: the outage refusal is reported, and even a signed pod is refused
    Given a lab node with the "integrity" profile
    And the lab signs the image of "system-agent" in the "v2" format
    When the attacker stops the admission webhook
    And the workload "system-agent" is submitted
    Then the pod is refused with "connect ECONNREFUSED"
    And the admission component reported the refusal
