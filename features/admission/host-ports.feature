@epic:admission @story:security-policy
Feature: SecurityPolicy allowedHostPorts, on pods that publish host ports
  SecurityPolicy "mypolicy" (seed 003) allows host ports 2000-4000 in the
  namespaces labelled enforce=mypolicy. The workloads embed a Kubernetes pod
  (scenarios/workloads/web-hostport-*.yaml) that publishes a host port and
  otherwise meets the policy. On the vanilla control nothing checks them.

  @severity:critical
  Scenario Outline: a pod publishing host port <port> on the <profile> profile
    Given a lab node with the "<profile>" profile
    When the workload "<workload>" is submitted
    Then the pod is <result>

    Examples:
      | port | workload          | profile   | result                                                                                  |
      | 8080 | web-hostport-8080 | vanilla   | created                                                                                 |
      | 8080 | web-hostport-8080 | integrity | refused with "container \"web\" uses hostPort 8080, allowed ranges are 2000-4000"   |
      | 3000 | web-hostport-3000 | integrity | created                                                                                 |
