# Copyright (c) mmweak contributors.
import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Register all mmweak modules into their registries.

    Args:
        init_default_scope (bool): Whether to set the default scope to
            ``'mmweak'`` so that bare ``type`` names resolve in mmweak's
            registries. Defaults to True.
    """
    import mmweak.datasets  # noqa: F401,F403
    import mmweak.engine  # noqa: F401,F403
    import mmweak.evaluation  # noqa: F401,F403
    import mmweak.models  # noqa: F401,F403
    import mmweak.visualization  # noqa: F401,F403

    if not init_default_scope:
        return
    current_scope = DefaultScope.get_current_instance()
    if current_scope is None:
        DefaultScope.get_instance('mmweak', scope_name='mmweak')
    elif current_scope.scope_name != 'mmweak':
        warnings.warn(f'The current default scope "{current_scope.scope_name}"'
                      ' is not "mmweak"; `register_all_modules` will force '
                      'the current default scope to be "mmweak". If this is '
                      'not expected, please set `init_default_scope=False`.')
        # avoid name conflicts of the new instance
        new_instance_name = f'mmweak-{datetime.datetime.now()}'
        DefaultScope.get_instance(new_instance_name, scope_name='mmweak')
