"""Chinese names of the audit log's actions, for the audit screen.

The log stores a stable code (``account.created``); the audit administrator reads the name
(新建账号) with the code beside it (the filter takes a code prefix). A code without a name
here is shown as it is.
"""

from __future__ import annotations

AUDIT_ACTIONS = {
    "login": "登录",
    "login.failed": "登录失败",
    "login.totp_failed": "动态验证码错误",
    "logout": "退出登录",
    "account.created": "新建账号",
    "account.updated": "修改账号",
    "account.password_set": "设置密码",
    "account.totp_enabled": "启用双因素认证",
    "account.totp_reset": "重置双因素认证",
    "account.role_migrated": "角色迁移（三权分立）",
    "api_token.issued": "发放接口令牌",
    "api_token.revoked": "吊销接口令牌",
    "audit.viewed": "查阅审计日志",
    "audit.exported": "导出审计日志",
    "calendar.published": "发布工作日历",
    "catalogue.imported": "导入事项目录",
    "catalogue.exported": "导出事项目录",
    "catalogue.draft_created": "起草目录变更",
    "catalogue.draft_saved": "保存目录草稿",
    "catalogue.draft_submitted": "提交目录草稿",
    "catalogue.draft_abandoned": "放弃目录草稿",
    "catalogue.legal_review": "法制审查",
    "catalogue.secrecy_review": "保密审查",
    "catalogue.approve": "服务中心审批",
    "config.published": "发布配置",
    "dashboard.exported": "导出统计数据",
    "disclosure.corrected": "更正公开信息",
    "disclosure.published": "发布公开信息",
    "disclosure.request_received": "收到依申请公开",
    "evaluation.answered": "答复评价",
    "face.settings_changed": "修改评价设置",
    "interaction.acted": "处理咨询投诉",
    "node.enrolled": "节点注册",
    "node.epoch_started": "节点恢复（新纪元）",
    "node.epoch_reinstated": "节点纪元恢复",
    "node.org_unit_set": "设置节点归属",
    "node.revoked": "吊销节点",
    "notice.published": "发布通知公告",
    "notice.read": "阅读通知公告",
    "org_unit.created": "新建组织机构",
    "org_unit.duty_set": "设置机构职责",
    "personal_data.read": "接口读取个人信息",
    "personal_data.viewed": "查看个人信息",
    "supervision.answer": "答复电子监察",
    "supervision.decide": "监察处理",
    "supervision.reevaluate": "重新评估监察",
    "supervision.settings": "修改监察规则",
}


def action_label(code: str) -> str:
    return AUDIT_ACTIONS.get(code, code)
