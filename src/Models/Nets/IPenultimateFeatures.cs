using static TorchSharp.torch;

namespace PapaActors.Models.Nets;

/// <summary>
/// A zoo model's penultimate features: what its final Linear layer reads, one row per image. forward is that
/// Linear applied to them, so the features are the representation the classifier sees.
/// </summary>
public interface IPenultimateFeatures
{
    Tensor Features(Tensor input);
}
