# Monitoring at the spec's thresholds: CloudWatch alarms routed to critical and warning SNS
# topics (Slack through AWS Chatbot), a dashboard, X-Ray sampling, Application Insights, the
# deployment log group and a monthly budget.

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  region = data.aws_region.current.name
  # The namespace of the app's Embedded Metric Format lines (TM_LOG_EMF_NAMESPACE in the ECS
  # module) and of marketctl's deploy markers; each carries an Environment dimension.
  kpi_namespace = "TattooMarketplace"
  kpi = { for name in [
    "Registrations", "DepositsRecorded", "SessionsCompleted", "Reviews", "Messages",
  ] : name => [local.kpi_namespace, name, "Environment", var.environment] }
  funnel = [for name in ["FunnelSearches", "FunnelProfileViews", "FunnelRequests", "FunnelQuotes", "FunnelBooked"] :
  [local.kpi_namespace, name, "Environment", var.environment]]
  # Each account counts once in its first signed-in request of a UTC day (or ISO week): the sum
  # over a day (or a week) is the daily (or weekly) active accounts.
  active = [
    [local.kpi_namespace, "DailyActiveUsers", "Environment", var.environment, { period = 86400, label = "daily active accounts" }],
    [local.kpi_namespace, "WeeklyActiveUsers", "Environment", var.environment, { period = 604800, label = "weekly active accounts" }],
  ]
  severities = {
    critical = "Immediate response: application down, error rate, failing health checks"
    warning  = "Next business day: resource usage, slow responses, certificates, costs"
  }
}

# ---------------------------------------------------------------- topics and Slack

resource "aws_sns_topic" "this" {
  for_each          = local.severities
  name              = "${var.name}-${each.key}"
  display_name      = "${var.name} ${each.key}"
  kms_master_key_id = var.kms_key_arn
  tags              = merge(var.tags, { Severity = each.key })
}

data "aws_iam_policy_document" "topic" {
  for_each = local.severities
  statement {
    sid       = "AlarmsBudgetsAndFindingsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.this[each.key].arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com", "budgets.amazonaws.com", "events.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "this" {
  for_each = local.severities
  arn      = aws_sns_topic.this[each.key].arn
  policy   = data.aws_iam_policy_document.topic[each.key].json
}

# Every topic reaches every address: an alarm on a topic nobody reads is no alarm.
resource "aws_sns_topic_subscription" "email" {
  for_each = {
    for pair in setproduct(keys(local.severities), var.alert_emails) : "${pair[0]}-${pair[1]}" => { severity = pair[0], email = pair[1] }
  }
  topic_arn = aws_sns_topic.this[each.value.severity].arn
  protocol  = "email"
  endpoint  = each.value.email
}

# CloudFront's metrics and its certificate live in us-east-1, and an alarm can only notify a
# topic in its own region: these topics carry those alarms to the same people.
resource "aws_sns_topic" "global" {
  for_each          = local.severities
  provider          = aws.global
  name              = "${var.name}-${each.key}-us-east-1"
  display_name      = "${var.name} ${each.key} (CloudFront)"
  kms_master_key_id = var.global_kms_key_arn
  tags              = merge(var.tags, { Severity = each.key })
}

data "aws_iam_policy_document" "global_topic" {
  for_each = local.severities
  statement {
    sid       = "AlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.global[each.key].arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "global" {
  for_each = local.severities
  provider = aws.global
  arn      = aws_sns_topic.global[each.key].arn
  policy   = data.aws_iam_policy_document.global_topic[each.key].json
}

resource "aws_sns_topic_subscription" "global_email" {
  for_each = {
    for pair in setproduct(keys(local.severities), var.alert_emails) : "${pair[0]}-${pair[1]}" => { severity = pair[0], email = pair[1] }
  }
  provider  = aws.global
  topic_arn = aws_sns_topic.global[each.value.severity].arn
  protocol  = "email"
  endpoint  = each.value.email
}

data "aws_iam_policy_document" "chatbot_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["chatbot.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "chatbot" {
  count              = var.slack == null ? 0 : 1
  name               = "${var.name}-chatbot"
  assume_role_policy = data.aws_iam_policy_document.chatbot_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "chatbot" {
  count      = var.slack == null ? 0 : 1
  role       = aws_iam_role.chatbot[0].name
  policy_arn = "arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess"
}

resource "aws_chatbot_slack_channel_configuration" "this" {
  count                 = var.slack == null ? 0 : 1
  configuration_name    = "${var.name}-alerts"
  iam_role_arn          = aws_iam_role.chatbot[0].arn
  slack_team_id         = var.slack.team_id
  slack_channel_id      = var.slack.channel_id
  sns_topic_arns        = concat([for t in aws_sns_topic.this : t.arn], [for t in aws_sns_topic.global : t.arn])
  guardrail_policy_arns = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
  logging_level         = "ERROR"
  tags                  = var.tags
}

# ---------------------------------------------------------------- alarms

# CPU and memory of each colour's service: over 80% for 5 minutes.
resource "aws_cloudwatch_metric_alarm" "service" {
  for_each = {
    for pair in setproduct(keys(var.service_names), ["CPUUtilization", "MemoryUtilization"]) :
    "${pair[0]}-${pair[1]}" => { colour = pair[0], metric = pair[1] }
  }
  alarm_name          = "${var.name}-${each.value.colour}-${lower(each.value.metric)}"
  alarm_description   = "${each.value.metric} above 80% for 5 minutes (${each.value.colour})"
  namespace           = "AWS/ECS"
  metric_name         = each.value.metric
  statistic           = "Average"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 5
  threshold           = 80
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions = {
    ClusterName = var.cluster_name
    ServiceName = var.service_names[each.value.colour]
  }
  alarm_actions = [aws_sns_topic.this["warning"].arn]
  ok_actions    = [aws_sns_topic.this["warning"].arn]
  tags          = var.tags
}

locals {
  # Each ratio alarm: numerator metrics summed over both colours / all requests, as a percentage.
  ratio_alarms = {
    "5xx-rate" = {
      severity    = "critical"
      threshold   = 5
      description = "More than 5% of requests answered 5xx"
      numerator   = ["HTTPCode_Target_5XX_Count", "HTTPCode_ELB_5XX_Count"]
    }
    "network-errors" = {
      severity    = "warning"
      threshold   = 1
      description = "More than 1% of requests hit connection errors to the targets"
      numerator   = ["TargetConnectionErrorCount"]
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "ratio" {
  for_each            = local.ratio_alarms
  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.threshold
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.this[each.value.severity].arn]
  ok_actions          = [aws_sns_topic.this[each.value.severity].arn]
  tags                = var.tags

  metric_query {
    id          = "ratio"
    expression  = "100 * (${join(" + ", [for i, m in each.value.numerator : "FILL(e${i}, 0)"])}) / requests"
    label       = "${each.key} (%)"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = each.value.numerator
    content {
      id = "e${metric_query.key}"
      metric {
        namespace   = "AWS/ApplicationELB"
        metric_name = metric_query.value
        period      = 60
        stat        = "Sum"
        dimensions  = { LoadBalancer = var.alb_arn_suffix }
      }
    }
  }

  metric_query {
    id = "requests"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      period      = 60
      stat        = "Sum"
      dimensions  = { LoadBalancer = var.alb_arn_suffix }
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "latency" {
  alarm_name          = "${var.name}-latency-p95"
  alarm_description   = "p95 response time above 5 seconds"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  extended_statistic  = "p95"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  threshold           = 5
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions          = { LoadBalancer = var.alb_arn_suffix }
  alarm_actions       = [aws_sns_topic.this["warning"].arn]
  ok_actions          = [aws_sns_topic.this["warning"].arn]
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "unhealthy_hosts" {
  for_each            = var.target_group_arn_suffixes
  alarm_name          = "${var.name}-${each.key}-unhealthy-hosts"
  alarm_description   = "A ${each.key} target is failing its /health/ready check"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions = {
    LoadBalancer = var.alb_arn_suffix
    TargetGroup  = each.value
  }
  alarm_actions = [aws_sns_topic.this["critical"].arn]
  ok_actions    = [aws_sns_topic.this["critical"].arn]
  tags          = var.tags
}

# Application down: no healthy target in either colour.
resource "aws_cloudwatch_metric_alarm" "no_healthy_hosts" {
  alarm_name          = "${var.name}-application-down"
  alarm_description   = "No target passes its health check: the application is down"
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.this["critical"].arn]
  ok_actions          = [aws_sns_topic.this["critical"].arn]
  tags                = var.tags

  metric_query {
    id          = "healthy"
    expression  = join(" + ", [for k, _ in var.target_group_arn_suffixes : "FILL(h${k}, 0)"])
    label       = "Healthy targets"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = var.target_group_arn_suffixes
    content {
      id = "h${metric_query.key}"
      metric {
        namespace   = "AWS/ApplicationELB"
        metric_name = "HealthyHostCount"
        period      = 60
        stat        = "Minimum"
        dimensions = {
          LoadBalancer = var.alb_arn_suffix
          TargetGroup  = metric_query.value
        }
      }
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "certificate" {
  alarm_name          = "${var.name}-certificate-expiry"
  alarm_description   = "The ALB's TLS certificate expires within 30 days (ACM renews it; this means renewal is stuck)"
  namespace           = "AWS/CertificateManager"
  metric_name         = "DaysToExpiry"
  statistic           = "Minimum"
  period              = 86400
  evaluation_periods  = 1
  threshold           = 30
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions          = { CertificateArn = var.certificate_arn }
  alarm_actions       = [aws_sns_topic.this["warning"].arn]
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "cloudfront_certificate" {
  provider            = aws.global
  alarm_name          = "${var.name}-cloudfront-certificate-expiry"
  alarm_description   = "CloudFront's TLS certificate (us-east-1) expires within 30 days"
  namespace           = "AWS/CertificateManager"
  metric_name         = "DaysToExpiry"
  statistic           = "Minimum"
  period              = 86400
  evaluation_periods  = 1
  threshold           = 30
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions          = { CertificateArn = var.cloudfront_certificate_arn }
  alarm_actions       = [aws_sns_topic.global["warning"].arn]
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "cloudfront_5xx" {
  provider            = aws.global
  alarm_name          = "${var.name}-cloudfront-5xx"
  alarm_description   = "More than 5% of CloudFront responses are 5xx (origin unreachable, TLS to the origin, or the app)"
  namespace           = "AWS/CloudFront"
  metric_name         = "5xxErrorRate"
  statistic           = "Average"
  period              = 60
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  threshold           = 5
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions = {
    DistributionId = var.distribution_id
    Region         = "Global"
  }
  alarm_actions = [aws_sns_topic.global["critical"].arn]
  ok_actions    = [aws_sns_topic.global["critical"].arn]
  tags          = var.tags
}

# Security incidents at the edge: a spike of WAF blocks is an attack in progress (GuardDuty's
# findings reach the critical topic through the compliance module's EventBridge rule).
resource "aws_cloudwatch_metric_alarm" "waf_blocks" {
  alarm_name          = "${var.name}-waf-blocks"
  alarm_description   = "The ALB's WAF blocked more than ${var.waf_blocked_requests_threshold} requests in 5 minutes"
  namespace           = "AWS/WAFV2"
  metric_name         = "BlockedRequests"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.waf_blocked_requests_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions = {
    WebACL = var.regional_web_acl_name
    Region = local.region
    Rule   = "ALL"
  }
  alarm_actions = [aws_sns_topic.this["critical"].arn]
  ok_actions    = [aws_sns_topic.this["critical"].arn]
  tags          = var.tags
}

resource "aws_cloudwatch_metric_alarm" "cloudfront_waf_blocks" {
  provider            = aws.global
  alarm_name          = "${var.name}-cloudfront-waf-blocks"
  alarm_description   = "CloudFront's WAF blocked more than ${var.waf_blocked_requests_threshold} requests in 5 minutes"
  namespace           = "AWS/WAFV2"
  metric_name         = "BlockedRequests"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.waf_blocked_requests_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions = {
    WebACL = var.cloudfront_web_acl_name
    Rule   = "ALL"
  }
  alarm_actions = [aws_sns_topic.global["critical"].arn]
  ok_actions    = [aws_sns_topic.global["critical"].arn]
  tags          = var.tags
}

# Unusual traffic: request count outside the band CloudWatch learns from two weeks of history
# (a sudden surge, or traffic falling away because something upstream broke).
resource "aws_cloudwatch_metric_alarm" "traffic_anomaly" {
  alarm_name          = "${var.name}-traffic-anomaly"
  alarm_description   = "Request count outside its learned band for 3 of 5 minutes"
  comparison_operator = "LessThanLowerOrGreaterThanUpperThreshold"
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  threshold_metric_id = "band"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.this["warning"].arn]
  ok_actions          = [aws_sns_topic.this["warning"].arn]
  tags                = var.tags

  metric_query {
    id          = "band"
    expression  = "ANOMALY_DETECTION_BAND(requests, 3)"
    label       = "Expected requests"
    return_data = true
  }

  metric_query {
    id          = "requests"
    return_data = true
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      period      = 60
      stat        = "Sum"
      dimensions  = { LoadBalancer = var.alb_arn_suffix }
    }
  }
}

# ---------------------------------------------------------------- dashboard

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title = "Requests and 5xx", region = local.region, stat = "Sum", period = 60
          metrics = [
            ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", var.alb_arn_suffix],
            [".", "HTTPCode_Target_5XX_Count", ".", "."],
            [".", "HTTPCode_ELB_5XX_Count", ".", "."],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title = "Response time p95 and p99 (s)", region = local.region, period = 60
          metrics = [
            ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", var.alb_arn_suffix, { stat = "p95", label = "p95" }],
            ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", var.alb_arn_suffix, { stat = "p99", label = "p99" }],
          ]
          annotations = { horizontal = [{ label = "warning", value = 5 }, { label = "rollback", value = 10 }] }
        }
      },
      {
        type = "metric", x = 0, y = 16, width = 12, height = 6
        properties = {
          title = "4xx and 5xx rates (% of requests)", region = local.region, period = 60
          metrics = [
            ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", var.alb_arn_suffix, { id = "requests", stat = "Sum", visible = false }],
            ["AWS/ApplicationELB", "HTTPCode_Target_4XX_Count", "LoadBalancer", var.alb_arn_suffix, { id = "client_errors", stat = "Sum", visible = false }],
            ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "LoadBalancer", var.alb_arn_suffix, { id = "server_errors", stat = "Sum", visible = false }],
            [{ expression = "100 * client_errors / requests", label = "4xx %", id = "rate_4xx" }],
            [{ expression = "100 * server_errors / requests", label = "5xx %", id = "rate_5xx" }],
          ]
          annotations = { horizontal = [{ label = "5xx rollback", value = 5 }] }
        }
      },
      {
        type = "metric", x = 12, y = 16, width = 12, height = 6
        properties = {
          title = "Requests per second", region = local.region, period = 60
          metrics = [
            ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", var.alb_arn_suffix, { id = "count", stat = "Sum", visible = false }],
            [{ expression = "count / PERIOD(count)", label = "requests/s", id = "rps" }],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 22, width = 12, height = 6
        properties = {
          title   = "Business KPIs per hour", region = local.region, stat = "Sum", period = 3600
          metrics = [for name, metric in local.kpi : metric]
        }
      },
      {
        type = "metric", x = 12, y = 22, width = 12, height = 6
        properties = {
          title   = "Booking funnel per day: search, profile view, request, quote, booked", region = local.region
          stat    = "Sum", period = 86400, view = "bar"
          metrics = local.funnel
        }
      },
      {
        type = "metric", x = 0, y = 32, width = 24, height = 6
        properties = {
          title   = "Active accounts: daily and weekly", region = local.region, stat = "Sum", view = "bar"
          metrics = local.active
        }
      },
      {
        type = "metric", x = 0, y = 28, width = 24, height = 4
        properties = {
          title = "Deploys and rollbacks (marketctl)", region = local.region, stat = "Sum", period = 300
          metrics = [
            [local.kpi_namespace, "Deployments", "Environment", var.environment, "Outcome", "succeeded"],
            [local.kpi_namespace, "Deployments", "Environment", var.environment, "Outcome", "rolled_back"],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title = "Service CPU and memory (%)", region = local.region, stat = "Average", period = 60
          metrics = flatten([for colour, service in var.service_names : [
            ["AWS/ECS", "CPUUtilization", "ClusterName", var.cluster_name, "ServiceName", service],
            [".", "MemoryUtilization", ".", ".", ".", "."],
          ]])
          annotations = { horizontal = [{ label = "alarm", value = 80 }] }
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title = "Database", region = local.region, stat = "Average", period = 60
          metrics = [
            ["AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", var.db_instance_identifier],
            [".", "CPUUtilization", ".", "."],
          ]
          annotations = { horizontal = [{ label = "connections warning", value = var.db_connections_threshold }] }
        }
      },
      {
        type = "alarm", x = 0, y = 12, width = 24, height = 4
        properties = {
          title  = "Alarms"
          alarms = concat([for a in aws_cloudwatch_metric_alarm.ratio : a.arn], [aws_cloudwatch_metric_alarm.latency.arn, aws_cloudwatch_metric_alarm.no_healthy_hosts.arn])
        }
      },
    ]
  })
}

# ---------------------------------------------------------------- tracing, insights, logs

resource "aws_xray_sampling_rule" "this" {
  rule_name      = substr("${var.name}-default", 0, 32)
  priority       = 1000
  reservoir_size = 1
  fixed_rate     = var.xray_sampling_rate
  host           = "*"
  http_method    = "*"
  url_path       = "*"
  service_name   = var.name
  service_type   = "*"
  resource_arn   = "*"
  version        = 1
  tags           = var.tags
}

resource "aws_xray_group" "this" {
  group_name        = var.name
  filter_expression = "service(\"${var.name}\")"
  tags              = var.tags

  insights_configuration {
    insights_enabled      = true
    notifications_enabled = true
  }
}

resource "aws_resourcegroups_group" "this" {
  name = var.name
  tags = var.tags

  resource_query {
    query = jsonencode({
      ResourceTypeFilters = ["AWS::AllSupported"]
      TagFilters = [
        { Key = "Project", Values = [var.project] },
        { Key = "Environment", Values = [var.environment] },
      ]
    })
  }
}

resource "aws_applicationinsights_application" "this" {
  resource_group_name = aws_resourcegroups_group.this.name
  auto_config_enabled = true
  cwe_monitor_enabled = true
  ops_center_enabled  = false
  tags                = var.tags
}

resource "aws_cloudwatch_log_group" "deployments" {
  name              = "/${var.name}/deployments"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# ---------------------------------------------------------------- budget

resource "aws_budgets_budget" "monthly" {
  name         = "${var.name}-monthly"
  budget_type  = "COST"
  limit_amount = tostring(var.monthly_budget_usd)
  limit_unit   = "USD"
  time_unit    = "MONTHLY"
  tags         = var.tags

  cost_filter {
    name = "TagKeyValue"
    # Budgets' tag filter is "user:<key>$<value>".
    values = [format("user:Environment$%s", var.environment)]
  }

  notification {
    comparison_operator        = "GREATER_THAN"
    threshold                  = 80
    threshold_type             = "PERCENTAGE"
    notification_type          = "ACTUAL"
    subscriber_sns_topic_arns  = [aws_sns_topic.this["warning"].arn]
    subscriber_email_addresses = var.alert_emails
  }

  notification {
    comparison_operator        = "GREATER_THAN"
    threshold                  = 100
    threshold_type             = "PERCENTAGE"
    notification_type          = "FORECASTED"
    subscriber_sns_topic_arns  = [aws_sns_topic.this["warning"].arn]
    subscriber_email_addresses = var.alert_emails
  }
}
