@epic:admission
Feature: SecurityPolicy verifyImageSignatures admits images signed by its cosign key
  A SecurityPolicy (seed 003) lists the public keys images under a
  reference must be signed with. The key pairs are made by the real cosign
  in the node, the image is signed with `cosign sign`, and the policy is
  applied to the running webhook as `kubectl apply` would.

  Scenario: an image signed with the policy's key is admitted
    Given a lab node with the "integrity" profile
    And the cosign binary on the node signs the image of "app" with the "vendor" key
    And a SecurityPolicy requires images under "127.0.0.1:5000/lab/*" in the namespace "signed-apps" to be signed with the "vendor" cosign key
    When the workload "app" is submitted in the namespace "signed-apps"
    Then the admission webhook admitted the pod
    And the pod is created

  @severity:critical
  Scenario Outline: the same image under a policy with another key (<profile>)
    Given a lab node with the "<profile>" profile
    And the cosign binary on the node signs the image of "app" with the "vendor" key
    And a SecurityPolicy requires images under "127.0.0.1:5000/lab/*" in the namespace "signed-apps" to be signed with the "other" cosign key
    When the workload "app" is submitted in the namespace "signed-apps"
    Then the pod is <result>

    Examples:
      | profile   | result                                                                                              |
      | vanilla   | created                                                                                             |
      | integrity | refused with "[verify-image-signatures] Image signature verification failed: 127.0.0.1:5000/lab/app:1.0" |
