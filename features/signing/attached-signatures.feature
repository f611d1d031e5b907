@epic:signer @severity:critical @any-substrate
Feature: Signed images carry per-layer dm-verity root hashes
  The lab signs images the way the delivery kit does: for every layer it
  builds the EROFS image the node will build, computes its dm-verity root
  hash, records it as a layer annotation, and attaches a signature, the
  signing certificate and its chain to the manifest. The trust anchor is the
  lab's own CA, generated for each lab.

  Background:
    Given a lab node with the "vanilla" profile

  @smoke
  Scenario: a signed image verifies, and its root hashes match the layer files containerd built
    Given the lab signs the image of "app" in the "v2" format
    Then the signature of "app" verifies against the lab's trusted roots
    When the workload "app" is started
    Then the root hash of every layer.erofs of "app" on the node matches its signed annotation

  Scenario Outline: a manifest changed after signing fails verification (<tampering>)
    Given the lab signs the image of "app" in the "v2" format
    When the attacker changes the signed manifest of "app" by "<tampering>"
    Then verification of the tampered manifest fails with "<finding>"

    Examples:
      | tampering         | finding           |
      | annotation-edit   | SIGNATURE_INVALID |
      | layer-digest-swap | SIGNATURE_INVALID |
      | root-hash-edit    | SIGNATURE_INVALID |

  Scenario: a certificate from a CA the lab does not trust fails verification
    Given the image of "app" is signed in the "v2" format by a CA the lab does not trust
    Then verification of "app" fails with "CHAIN_UNTRUSTED"

  Scenario: an expired signing certificate fails verification
    Given the lab signs the image of "app" in the "v2" format
    Then verification of "app" 400 days from now fails with "CERT_EXPIRED"

  # Finding: the published delivery-kit payload concatenates annotation keys
  # and values with no separator, so characters can move across the boundary
  # without changing the signed digest. The v2 payload is length-prefixed.
  Scenario: a key/value boundary shift passes the delivery-kit payload
    Given the lab signs the image of "app" in the "delivery-kit" format
    When the attacker changes the signed manifest of "app" by "key-value-shift"
    Then verification of the tampered manifest still succeeds

  Scenario: the same shift is caught by the v2 payload
    Given the lab signs the image of "app" in the "v2" format
    When the attacker changes the signed manifest of "app" by "key-value-shift"
    Then verification of the tampered manifest fails with "SIGNATURE_INVALID"
