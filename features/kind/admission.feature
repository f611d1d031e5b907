@kind @epic:kind @epic:admission
Feature: kube-apiserver calls the lab's admission webhook
  On the integrity profile the lab's admission webhook runs on the
  control-plane node and is registered with the cluster's kube-apiserver as
  shipped: the ValidatingWebhookConfiguration (failurePolicy Fail,
  timeoutSeconds 10, a namespaceSelector that leaves out only the webhook's
  own namespace, integrity-admission) names a Service whose EndpointSlice
  points at the node, and caBundle is the lab CA. Pods are submitted through
  the apiserver, which calls the webhook over TLS for the service DNS name
  and words the refusal itself. On the vanilla control nothing is
  registered: the same pods are created.

  @severity:critical
  Scenario Outline: an unsigned image in kube-system, through kube-apiserver (<profile>)
    Given a kind cluster with the "<profile>" profile
    When the workload "system-agent" is submitted through kube-apiserver
    Then kube-apiserver <result>

    Examples:
      | profile   | result                                                                                                                                                                                       |
      | vanilla   | admitted "system-agent" and it runs                                                                                                                                                          |
      | integrity | refused "system-agent" with "admission webhook \"pods.integrity-lab.deckhouse.io\" denied the request: [verify-image-signatures] Image signature verification failed: 127.0.0.1:5000/system/agent:1.0" |

  Scenario: the refusal is the webhook's own decision, recorded on the control-plane node
    Given a kind cluster with the "integrity" profile
    When the workload "system-agent" is submitted through kube-apiserver
    Then kube-apiserver refused "system-agent" with "MISSING_SIGNATURE"
    And the webhook on the control-plane node recorded "system-agent" as "denied"

  Scenario: an unsigned image outside the protected namespaces is admitted by the webhook and runs: the check is scoped
    Given a kind cluster with the "integrity" profile
    When the workload "app" is submitted through kube-apiserver
    Then kube-apiserver admitted "app" and it runs
    And the webhook on the control-plane node recorded "app" as "admitted"

  @severity:critical
  Scenario: the webhook process is killed: kube-apiserver fails closed wherever the webhook applies
    The namespaceSelector decides where the outage bites: every namespace
    but integrity-admission, so application namespaces are refused as well.
    Given a kind cluster with the "integrity" profile
    When the attacker kills the admission webhook process on the control-plane node
    And the workload "system-agent" is submitted through kube-apiserver
    Then kube-apiserver refused "system-agent" with "failed calling webhook \"pods.integrity-lab.deckhouse.io\""
    When the workload "app" is submitted through kube-apiserver
    Then kube-apiserver refused "app" with "connect: connection refused"
    When the workload "app" is submitted through kube-apiserver in the namespace "integrity-admission"
    Then kube-apiserver admitted "app" and it runs

  Scenario Outline: a serving certificate that does not match (<fault>): TLS fails and kube-apiserver fails closed
    Given a kind cluster with the "integrity" profile
    When the admission webhook is registered <fault>
    Then the registration fails naming the TLS problem "<tls>"
    When the workload "system-agent" is submitted through kube-apiserver
    Then kube-apiserver refused "system-agent" with "failed calling webhook \"pods.integrity-lab.deckhouse.io\""

    Examples:
      | fault                                            | tls                                                                                                                        |
      | with the caBundle of another CA                  | x509: certificate signed by unknown authority                                                                              |
      | behind the Service "integrity-webhook-elsewhere" | x509: certificate is valid for integrity-webhook.integrity-admission.svc, not integrity-webhook-elsewhere.integrity-admission.svc |
