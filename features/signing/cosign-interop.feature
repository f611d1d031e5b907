@epic:signer @severity:normal @any-substrate
Feature: cosign signatures interoperate with the real cosign binary
  User workloads are signed the cosign way (a simple-signing payload under
  the sha256-<digest>.sig tag). The lab's signatures must verify with the
  real cosign on the node, and cosign's with the lab.

  Background:
    Given a lab node with the "vanilla" profile

  Scenario: signed by integrity-lab, verified by cosign
    When the lab signs the image of "app" the cosign way
    Then the cosign binary on the node verifies "app" with the lab's public key

  Scenario: signed by cosign, verified by integrity-lab
    When the cosign binary on the node signs the image of "app" with a vendor key
    Then the lab verifies the cosign signature of "app" with the vendor's public key
    And the lab refuses the cosign signature of "app" under another key
