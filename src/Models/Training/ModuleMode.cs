using static TorchSharp.torch;

namespace PapaActors.Models.Training;

/// <summary>
/// Sets a module to train or eval mode until disposed, then gives it back the mode it had (also after an
/// exception): evaluation, BatchNorm re-estimation and REPAIR borrow a member's model for a moment.
/// </summary>
internal readonly struct ModuleMode : IDisposable
{
    private readonly nn.Module _module;
    private readonly bool _wasTraining;

    private ModuleMode(nn.Module module, bool training)
    {
        _module = module;
        _wasTraining = module.training;
        module.train(training);
    }

    public static ModuleMode Training(nn.Module module) => new(module, true);

    public static ModuleMode Eval(nn.Module module) => new(module, false);

    public void Dispose() => _module.train(_wasTraining);
}
